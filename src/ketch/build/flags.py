"""An instruction's `--name=value` flags, checked against the ones it takes, with Docker's
messages ("unknown flag: --chwon (did you mean chown?)"), as BuildKit's BFlags."""

from __future__ import annotations

from collections.abc import Iterable


class FlagError(Exception):
    pass


class Flags:
    """Declare with string/strings/boolean, then parse(); values read after."""

    def __init__(self, given: Iterable[str]) -> None:
        self.given = list(given)
        self._kinds: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        self.used: set[str] = set()

    def string(self, name: str) -> None:
        self._kinds[name] = "string"

    def strings(self, name: str) -> None:
        self._kinds[name] = "strings"
        self.lists[name] = []

    def boolean(self, name: str) -> None:
        self._kinds[name] = "bool"

    def parse(self) -> None:
        for arg in self.given:
            if arg == "--":
                return  # the rest are operands, as POSIX utilities take them
            if not arg.startswith("--"):
                raise FlagError(f"arg should start with -- : {arg}")
            flag, has_value, value = arg.partition("=")
            name = flag[2:]
            kind = self._kinds.get(name)
            if kind is None:
                raise FlagError(suggest(f"unknown flag: {flag}", name, self._kinds))
            if name in self.used and kind != "strings":
                raise FlagError(f"duplicate flag specified: {flag}")
            self.used.add(name)
            if kind == "bool":
                if has_value and value == "":
                    raise FlagError(f"missing a value on flag: {flag}")
                if value.lower() in ("true", ""):
                    self.values[name] = "true"
                elif value.lower() == "false":
                    self.values[name] = "false"
                else:
                    raise FlagError(f"expecting boolean value for flag {flag}, not: {value}")
            elif not has_value:
                raise FlagError(f"missing a value on flag: {flag}")
            elif kind == "string":
                self.values[name] = value
            else:
                self.lists[name].append(value)

    def get(self, name: str) -> str | None:
        """A string flag's value, None when it was not given."""
        return self.values.get(name)

    def true(self, name: str) -> bool:
        return self.values.get(name) == "true"

    def boolean_given(self, name: str) -> bool | None:
        return None if name not in self.values else self.values[name] == "true"


def suggest(message: str, value: str, options: Iterable[str], *,
            case_sensitive: bool = True) -> str:
    """`message (did you mean x?)` when an option is within two edits of `value`, as
    BuildKit's suggest.WrapError; the first closest option in `options`' order wins."""
    wanted = value if case_sensitive else value.lower()
    best = ""
    best_distance = 3
    for option in options:
        candidate = option if case_sensitive else option.lower()
        if candidate == wanted:
            return message
        distance = _levenshtein(wanted, candidate)
        if distance < best_distance:
            best, best_distance = candidate, distance
    if not best:
        return message
    if not case_sensitive:
        if value == value.lower():
            best = best.lower()
        elif value == value.upper():
            best = best.upper()
    return f"{message} (did you mean {best}?)"


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
