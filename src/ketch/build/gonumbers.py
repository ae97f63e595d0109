"""Numbers as Go parses them, with Go's messages (Docker shows them as they are):
time.ParseDuration and strconv.ParseInt(s, 10, 32)."""

from __future__ import annotations

import re

from ketch.build.quoting import go_quote


def go_int32(text: str) -> int:
    # Go's strconv.ParseInt(text, 10, 32): an optional sign and decimal digits.
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(2**31) <= value < 2**31:
        raise ValueError(
            f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def go_duration(text: str) -> int:
    """Nanoseconds in a Go duration ("1h30m", "1.5s", "0"), time.ParseDuration's errors."""
    invalid = ValueError(f"time: invalid duration {go_quote(text)}")
    rest = text[1:] if text[:1] in "+-" else text
    sign = -1 if text[:1] == "-" else 1
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0.0
    while rest:
        match = _DURATION_PART.match(rest)
        assert match is not None  # the pattern matches the empty string
        number, unit = match.group(1), match.group(2)
        if number in ("", "."):
            raise invalid
        if not unit:
            raise ValueError(f"time: missing unit in duration {go_quote(text)}")
        if unit not in _DURATION_UNITS:
            raise ValueError(
                f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        total += float(number) * _DURATION_UNITS[unit]
        rest = rest[match.end():]
    return sign * int(total)
