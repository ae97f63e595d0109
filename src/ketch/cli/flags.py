"""A small command-line parser with the grammar of the docker CLI (spf13/pflag).

Why not argparse: docker's grammar differs in ways users notice — combined
short flags with a value at the end (`-dit`, `-p8080:80`), `--flag=value`
for booleans, options stopping at the first argument for `run`/`exec`
(so `ketch run alpine ls -l` passes `-l` to the container), and its exact
error wording.
"""

from __future__ import annotations

# typing is kept off the import path (it costs several ms per command);
# annotations are strings here, so the names are needed by checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

BOOL = "bool"
STRING = "string"
LIST = "list"
INT = "int"


class UsageError(Exception):
    """A bad flag: docker prints it bare, then the usage, and exits 125."""

    exit_code = 125
    prefixed = False
    hint = "Run"


class ArgumentCountError(UsageError):
    """Too few or too many arguments: docker prefixes its name and exits 1."""

    exit_code = 1
    prefixed = True

    def __init__(self, message: str, hint: str = "Run") -> None:
        super().__init__(message)
        self.hint = hint


# Plain classes rather than dataclasses or NamedTuple: importing those costs
# milliseconds, paid by every `ketch` invocation.
class Flag:
    __slots__ = ("dest", "long", "short", "kind", "default", "help", "metavar", "check")

    def __init__(
        self,
        dest: str,
        long: str,
        short: str | None = None,
        kind: str = BOOL,
        default: Any = None,
        help: str = "",
        metavar: str = "",
        check: Callable[[str], str] | None = None,
    ) -> None:
        self.dest = dest
        self.long = long
        self.short = short
        self.kind = kind
        self.default = default
        self.help = help
        self.metavar = metavar
        # docker's per-flag validators (opts.ValidateIPAddress...): the value as stored,
        # or ValueError with the reason, reported as an invalid argument of the flag.
        self.check = check

    def initial(self) -> Any:
        if self.kind == LIST:
            return list(self.default or [])
        if self.kind == BOOL:
            return bool(self.default)
        return self.default


class Command:
    def __init__(
        self,
        name: str,
        usage: str,
        summary: str,
        flags: list[Flag] | None = None,
        *,
        interspersed: bool = True,
        min_args: int = 0,
        max_args: int | None = None,
    ) -> None:
        self.name = name
        self.usage = usage
        self.summary = summary
        self.flags = flags or []
        # run/create/exec stop at the first argument so the container's own
        # options pass through untouched.
        self.interspersed = interspersed
        self.min_args = min_args
        self.max_args = max_args

    def help_text(self, program: str = "ketch") -> str:
        lines = [f"\nUsage:  {program} {self.usage}\n", self.summary, ""]
        visible = sorted((flag for flag in self.flags if flag.help), key=lambda f: f.long)
        if visible:
            lines.append("Options:")
            names = []
            for flag in visible:
                short = f"-{flag.short}, " if flag.short else "    "
                value = f" {flag.metavar or flag.kind}" if flag.kind != BOOL else ""
                names.append(f"  {short}--{flag.long}{value}")
            width = max(len(name) for name in names) + 3
            for name, flag in zip(names, visible, strict=True):
                lines.append(f"{name:<{width}}{flag.help}")
        return "\n".join(lines) + "\n"


class Parsed:
    def __init__(
        self,
        options: dict[str, Any],
        args: list[str],
        help: bool = False,
        changed: set[str] | None = None,
    ) -> None:
        self.options = options
        self.args = args
        self.help = help
        # dests given on the command line (pflag's Changed), for flags sent only when given
        self.changed = changed if changed is not None else set()

    def __getattr__(self, name: str) -> Any:
        try:
            return self.options[name]
        except KeyError:
            raise AttributeError(name) from None


def parse(command: Command, argv: list[str]) -> Parsed:
    by_long = {flag.long: flag for flag in command.flags}
    by_short = {flag.short: flag for flag in command.flags if flag.short}
    options = {flag.dest: flag.initial() for flag in command.flags}
    args: list[str] = []
    changed: set[str] = set()
    wants_help = False
    index = 0

    def take_value(flag: Flag, attached: str | None, shown: str) -> None:
        nonlocal index
        if attached is None:
            if index >= len(argv):
                raise UsageError(f"flag needs an argument: {shown}")
            attached = argv[index]
            index += 1
        store(flag, attached)

    def store(flag: Flag, value: str) -> None:
        if flag.check is not None:
            try:
                value = flag.check(value)
            except ValueError as error:
                raise UsageError(
                    f'invalid argument "{value}" for "{_names(flag)}" flag: {error}'
                ) from None
        changed.add(flag.dest)
        if flag.kind == LIST:
            options[flag.dest].append(value)
        elif flag.kind == INT:
            try:
                options[flag.dest] = int(value)
            except ValueError:
                raise UsageError(
                    f'invalid argument "{value}" for "{_names(flag)}" flag: '
                    f'strconv.ParseInt: parsing "{value}": invalid syntax'
                ) from None
        elif flag.kind == BOOL:
            options[flag.dest] = _parse_bool(flag, value)
        else:
            options[flag.dest] = value

    while index < len(argv):
        word = argv[index]
        index += 1
        if word == "--":
            args.extend(argv[index:])
            break
        if word.startswith("--") and len(word) > 2:
            name, has_value, value = word[2:].partition("=")
            if name == "help":
                wants_help = True
                continue
            flag = by_long.get(name)
            if flag is None:
                raise UsageError(f"unknown flag: --{name}")
            if flag.kind == BOOL:
                store(flag, value if has_value else "true")
            else:
                take_value(flag, value if has_value else None, f"--{name}")
            continue
        if word.startswith("-") and len(word) > 1:
            position = 1
            while position < len(word):
                letter = word[position]
                position += 1
                if letter == "h" and "h" not in by_short:
                    wants_help = True
                    continue
                flag = by_short.get(letter)
                if flag is None:
                    raise UsageError(f"unknown shorthand flag: '{letter}' in {word}")
                rest = word[position:]
                if flag.kind == BOOL:
                    if rest.startswith("="):
                        store(flag, rest[1:])
                        break
                    store(flag, "true")
                    continue
                if rest.startswith("="):
                    rest = rest[1:]
                take_value(flag, rest or None, f"'{letter}' in -{letter}")
                break
            continue
        args.append(word)
        if not command.interspersed:
            args.extend(argv[index:])
            break
    parsed = Parsed(options, args, wants_help, changed)
    if not wants_help:
        _check_arg_count(command, args)
    return parsed


def _check_arg_count(command: Command, args: list[str]) -> None:
    quoted = f"'ketch {command.name}'"
    if command.max_args == 0 and args:
        raise ArgumentCountError(f"{quoted} accepts no arguments")
    most = command.max_args
    if command.min_args and most and command.min_args < most:
        if not command.min_args <= len(args) <= most:
            raise ArgumentCountError(
                f"{quoted} requires at least {command.min_args} and at most {most} arguments"
            )
    if command.min_args and len(args) < command.min_args:
        noun = "argument" if command.min_args == 1 else "arguments"
        if command.min_args == command.max_args:
            raise ArgumentCountError(f"{quoted} requires {command.min_args} {noun}")
        raise ArgumentCountError(
            f"{quoted} requires at least {command.min_args} {noun}", hint="See"
        )
    if command.max_args is not None and len(args) > command.max_args:
        noun = "argument" if command.max_args == 1 else "arguments"
        if command.min_args == command.max_args:
            raise ArgumentCountError(f"{quoted} requires {command.max_args} {noun}")
        # "SRun": docker's RequiresMaxArgs says so, a typo its users see
        raise ArgumentCountError(
            f"{quoted} requires at most {command.max_args} {noun}", hint="SRun"
        )


def _parse_bool(flag: Flag, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise UsageError(
        f'invalid argument "{value}" for "{_names(flag)}" flag: '
        f'strconv.ParseBool: parsing "{value}": invalid syntax'
    )


def _names(flag: Flag) -> str:
    return f"-{flag.short}, --{flag.long}" if flag.short else f"--{flag.long}"
