"""One parsed line (nodes.Node) into its typed instruction, checking its arguments and
flags as Docker's `instructions/parse.go` does, with its messages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypedDict

from ketch.build.flags import FlagError, Flags, suggest
from ketch.build.gonumbers import go_duration, go_int32
from ketch.build.instructions import (
    Arg,
    Cmd,
    Command,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    Label,
    Location,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from ketch.build.nodes import Node, RawHeredoc, parse_heredoc
from ketch.build.quoting import go_quote

# In the order BuildKit's suggestion search sees them, for "did you mean".
INSTRUCTION_NAMES = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
)

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)
_NETWORKS = ("default", "none", "host")
_SECURITY = ("insecure", "sandbox")


class InstructionError(Exception):
    pass


def typed_instruction(node: Node, location: Location) -> Instruction:
    """Raises InstructionError with Docker's message (without the line: the caller adds
    it, as Docker's "dockerfile parse error on line N: ...")."""
    keyword = node.keyword.upper()
    build = _BUILDERS.get(keyword)
    if build is None:
        raise InstructionError(suggest(f"unknown instruction: {node.keyword}", node.keyword,
                                       INSTRUCTION_NAMES, case_sensitive=False))
    request = _Request(node, location, keyword)
    try:
        return build(request)
    except FlagError as error:
        raise InstructionError(str(error)) from None


class _Common(TypedDict):
    keyword: str
    original: str
    location: Location


class _Request:
    def __init__(self, node: Node, location: Location, keyword: str) -> None:
        self.node = node
        self.args = node.args
        self.flags = Flags(node.flags)
        self.keyword = keyword
        self.common = _Common(keyword=keyword, original=_strip(node.original),
                              location=location)


def _strip(text: str) -> str:
    return text.strip("\t\n\v\f\r \x85\xa0")


def _exactly_one(request: _Request) -> str:
    if len(request.args) != 1:
        raise InstructionError(f"{request.keyword} requires exactly one argument")
    return request.args[0]


def _at_least_one(request: _Request) -> None:
    if not request.args:
        raise InstructionError(f"{request.keyword} requires at least one argument")


def _pairs(request: _Request) -> tuple[tuple[str, str], ...]:
    args = request.args
    _at_least_one(request)
    if len(args) % 3:
        raise InstructionError(f"Bad input to {request.keyword}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise InstructionError(f"{request.keyword} names can not be blank")
        pairs.append((args[i], args[i + 1]))
    return tuple(pairs)


def _command(request: _Request, args: list[str] | None = None) -> Command:
    """Exec form as given; shell form is the words joined into one string."""
    args = request.args if args is None else args
    if request.node.json:
        return Command(args=tuple(args), shell_form=False)
    return Command(args=(" ".join(args),) if args else (), shell_form=True)


def _heredocs(raw: list[RawHeredoc]) -> tuple[Heredoc, ...]:
    return tuple(_heredoc(h) for h in raw)


def _heredoc(raw: RawHeredoc, chomp: bool | None = None) -> Heredoc:
    chomp = raw.chomp if chomp is None else chomp
    content = re.sub(r"(?m)^\t+", "", raw.content) if chomp else raw.content
    return Heredoc(name=raw.name, content=content, expand=raw.expand, chomp=chomp)


def _from(request: _Request) -> Instruction:
    args = request.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise InstructionError(
                f"invalid name for build stage: {go_quote(args[2])}, name can't start with "
                "a number or contain symbols")
    elif len(args) != 1:
        raise InstructionError("FROM requires either one or three arguments")
    request.flags.string("platform")
    request.flags.parse()
    return From(**request.common, image=args[0], name=name,
                platform=request.flags.get("platform"))


def _env(request: _Request) -> Instruction:
    request.flags.parse()
    return Env(**request.common, pairs=_pairs(request))


def _label(request: _Request) -> Instruction:
    request.flags.parse()
    return Label(**request.common, pairs=_pairs(request))


def _maintainer(request: _Request) -> Instruction:
    name = _exactly_one(request)
    request.flags.parse()
    return Maintainer(**request.common, name=name)


def _sources_and_dest(
    request: _Request,
) -> tuple[tuple[str, ...], str, tuple[Heredoc, ...]]:
    *sources, dest = request.args
    if parse_heredoc(dest) is not None:
        raise InstructionError(f"{request.keyword} cannot accept a heredoc as a destination")
    bodies = {h.name: h for h in request.node.heredocs}
    paths: list[str] = []
    contents: list[Heredoc] = []
    for source in sources:
        word = parse_heredoc(source)
        if word is None:
            paths.append(source)
            continue
        body = bodies.get(word.name, RawHeredoc(word.name, word.expand, word.chomp))
        contents.append(_heredoc(
            RawHeredoc(word.name, word.expand, word.chomp, content=body.content)))
    return tuple(paths), dest, tuple(contents)


def _no_destination(request: _Request) -> None:
    if len(request.args) < 2:
        raise InstructionError(
            f"{request.keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined")


def _add(request: _Request) -> Instruction:
    _no_destination(request)
    flags = request.flags
    for name in ("chown", "chmod", "checksum"):
        flags.string(name)
    for name in ("link", "keep-git-dir", "unpack"):
        flags.boolean(name)
    flags.strings("exclude")
    flags.parse()
    sources, dest, heredocs = _sources_and_dest(request)
    return Copy(**request.common, sources=sources, dest=dest, add=True,
               chown=flags.get("chown") or None, chmod=flags.get("chmod") or None,
               link=flags.true("link"), exclude=tuple(flags.lists["exclude"]),
               checksum=flags.get("checksum") or None,
               keep_git_dir=flags.true("keep-git-dir"), unpack=flags.boolean_given("unpack"),
               heredocs=heredocs)


def _copy(request: _Request) -> Instruction:
    _no_destination(request)
    flags = request.flags
    for name in ("chown", "from", "chmod"):
        flags.string(name)
    flags.boolean("link")
    flags.strings("exclude")
    flags.boolean("parents")
    flags.parse()
    sources, dest, heredocs = _sources_and_dest(request)
    return Copy(**request.common, sources=sources, dest=dest, from_=flags.get("from") or None,
                chown=flags.get("chown") or None, chmod=flags.get("chmod") or None,
                link=flags.true("link"), parents=flags.true("parents"),
                exclude=tuple(flags.lists["exclude"]), heredocs=heredocs)


def _onbuild(request: _Request) -> Instruction:
    _at_least_one(request)
    request.flags.parse()
    trigger = request.args[0].strip().upper()
    if trigger == "ONBUILD":
        raise InstructionError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise InstructionError(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", request.node.original, count=1)
    for heredoc in request.node.heredocs:
        expression += "\n" + heredoc.content + heredoc.name
    return Onbuild(**request.common, expression=expression)


def _workdir(request: _Request) -> Instruction:
    path = _exactly_one(request)
    request.flags.parse()
    return Workdir(**request.common, path=path)


def _run(request: _Request) -> Instruction:
    flags = request.flags
    flags.strings("mount")
    flags.string("network")
    flags.string("security")
    flags.strings("device")
    flags.parse()
    network = flags.get("network")
    if network is not None and network not in _NETWORKS:
        raise InstructionError(f"invalid network mode {go_quote(network)}")
    security = flags.get("security")
    if security is not None and security not in _SECURITY:
        raise InstructionError(f"security {go_quote(security)} is not valid")
    return Run(**request.common, command=_command(request), mounts=tuple(flags.lists["mount"]),
               network=network, security=security, devices=tuple(flags.lists["device"]),
               heredocs=_heredocs(request.node.heredocs))


def _cmd(request: _Request) -> Instruction:
    request.flags.parse()
    return Cmd(**request.common, command=_command(request))


def _entrypoint(request: _Request) -> Instruction:
    request.flags.parse()
    return Entrypoint(**request.common, command=_command(request))


def _healthcheck(request: _Request) -> Instruction:
    _at_least_one(request)
    kind = request.args[0].upper()
    args = request.args[1:]
    if kind == "NONE":
        if args:
            raise InstructionError("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(**request.common, test=("NONE",))
    flags = request.flags
    durations = ("interval", "timeout", "start-period", "start-interval")
    for name in (*durations, "retries"):
        flags.string(name)
    flags.parse()
    if kind != "CMD":
        raise InstructionError(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    command = _command(request, args)
    if not command.args:
        raise InstructionError("Missing command after HEALTHCHECK CMD")
    test = ("CMD-SHELL" if command.shell_form else "CMD", *command.args)
    try:
        for name in durations:
            _check_interval(name, flags.get(name))
        given = flags.get("retries")
        retries = go_int32(given) if given else None
    except ValueError as error:
        raise InstructionError(str(error)) from None
    if retries is not None and retries < 0:
        raise InstructionError(f"--retries cannot be negative ({retries})")
    return Healthcheck(
        **request.common, test=test, interval=flags.get("interval") or None,
        timeout=flags.get("timeout") or None, start_period=flags.get("start-period") or None,
        start_interval=flags.get("start-interval") or None, retries=retries)


def _check_interval(name: str, value: str | None) -> None:
    if not value:
        return
    nanoseconds = go_duration(value)
    if nanoseconds != 0 and nanoseconds < 1_000_000:
        raise InstructionError(f"Interval {go_quote(name)} cannot be less than 1ms")


def _expose(request: _Request) -> Instruction:
    _at_least_one(request)
    request.flags.parse()
    return Expose(**request.common, ports=tuple(sorted(request.args)))


def _user(request: _Request) -> Instruction:
    user = _exactly_one(request)
    request.flags.parse()
    return User(**request.common, user=user)


def _volume(request: _Request) -> Instruction:
    _at_least_one(request)
    request.flags.parse()
    paths = []
    for path in request.args:
        path = _strip(path)
        if not path:
            raise InstructionError("VOLUME specified can not be an empty string")
        paths.append(path)
    return Volume(**request.common, paths=tuple(paths))


def _stopsignal(request: _Request) -> Instruction:
    # Docker reads no flags here: any given are ignored, not refused.
    return Stopsignal(**request.common, signal=_exactly_one(request))


def _arg(request: _Request) -> Instruction:
    # Nor here.
    _at_least_one(request)
    pairs: list[tuple[str, str | None]] = []
    for word in request.args:
        name, equals, default = word.partition("=")
        if equals and not name:
            raise InstructionError("ARG names can not be blank")
        pairs.append((name, default if equals else None))
    return Arg(**request.common, name=pairs[0][0], default=pairs[0][1], pairs=tuple(pairs))


def _shell(request: _Request) -> Instruction:
    request.flags.parse()
    if not request.args:
        raise InstructionError("SHELL requires at least one argument")
    if not request.node.json:
        raise InstructionError("SHELL requires the arguments to be in JSON form")
    return Shell(**request.common, args=tuple(request.args))


_BUILDERS: dict[str, Callable[[_Request], Instruction]] = {
    "ADD": _add, "ARG": _arg, "CMD": _cmd, "COPY": _copy, "ENTRYPOINT": _entrypoint,
    "ENV": _env, "EXPOSE": _expose, "FROM": _from, "HEALTHCHECK": _healthcheck,
    "LABEL": _label, "MAINTAINER": _maintainer, "ONBUILD": _onbuild, "RUN": _run,
    "SHELL": _shell, "STOPSIGNAL": _stopsignal, "USER": _user, "VOLUME": _volume,
    "WORKDIR": _workdir,
}
