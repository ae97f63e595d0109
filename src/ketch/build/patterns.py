"""Docker's `${VAR#pattern}`, `%`, and `${VAR/pattern/replacement}`: shell patterns (`*`,
`?`, `\\` escapes; no brackets) as regular expressions, with Go's regexp behaviour where
Python's differs."""

from __future__ import annotations

import re


class PatternError(Exception):
    pass


def pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell pattern (`*` any string, `?` one character, `\\` escapes; no brackets) as
    a regular expression; `*` is the shortest match unless greedy."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
            continue
        if ch == "?":
            out.append(".")
            continue
        if ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue  # escaped to get past ${...}'s parsing; not part of the pattern
            if following not in ("*", "?", "\\"):
                raise PatternError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape "
                    f"'\\{following}'")
            out.append("\\" + following)
            i += 1
            continue
        out.append(re.escape(ch) if ch in "[]{}.+()|^$" else ch)
    return re.compile("".join(out))


def replace_all(regex: re.Pattern[str], value: str, replacement: str) -> str:
    # Go's ReplaceAllString: an empty match right after the previous match is skipped
    # (Python's re.sub would replace it: `.*` over "abc" gives "--", Go gives "-").
    out: list[str] = []
    last = 0
    previous_end = -1
    for match in regex.finditer(value):
        if match.start() == match.end() == previous_end:
            continue
        out.append(value[last:match.start()])
        out.append(replacement)
        last = previous_end = match.end()
    out.append(value[last:])
    return "".join(out)


def trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end():] if match else value


def trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex cannot find the shortest match at the right end, so reverse both and trim
    # a prefix; the pattern is reversed keeping each escape before what it escapes.
    return trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _reverse_pattern(pattern: str) -> str:
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))
