"""`.dockerignore` as Docker reads it (moby/patternmatcher): patterns, `!` exceptions,
`**`, and a path excluded when it or one of its parent directories matches.

A minimal version for the build CLI's tests; the build context's own module replaces it.
"""

from __future__ import annotations

import posixpath
import re

_ESCAPED = set(".+()|{}$")


def read_patterns(text: str) -> list[str]:
    """ignorefile.ReadAll: comments and blank lines dropped, each pattern cleaned."""
    patterns = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.lstrip("\ufeff") if number == 0 else raw
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


def _regex(pattern: str) -> re.Pattern[str]:
    out = "^"
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            if index < len(pattern) and pattern[index] == "*":
                index += 1
                if index < len(pattern) and pattern[index] == "/":
                    index += 1
                out += ".*" if index >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char in _ESCAPED:
            out += "\\" + char
        elif char == "\\":
            if index < len(pattern):
                out += re.escape(pattern[index])
                index += 1
            else:
                out += "\\\\"
        else:
            out += char
    try:
        return re.compile(out + "$", re.DOTALL)
    except re.error:
        return re.compile("(?!)")  # a pattern Go cannot compile matches nothing


class Matcher:
    def __init__(self, patterns: list[str]) -> None:
        self.rules = [
            (pattern.startswith("!"), _regex(pattern.removeprefix("!")))
            for pattern in patterns
            if pattern.removeprefix("!")
        ]
        self.has_exceptions = any(exception for exception, _ in self.rules)

    def excludes(self, relpath: str) -> bool:
        """MatchesOrParentMatches: later patterns win; a parent's match counts."""
        path = posixpath.normpath(relpath)
        if path == ".":
            return False
        parts = path.split("/")[:-1]
        matched = False
        for exception, regex in self.rules:
            if exception != matched:
                continue
            hit = bool(regex.match(path)) or any(
                regex.match("/".join(parts[: i + 1])) for i in range(len(parts))
            )
            if hit:
                matched = not exception
        return matched
