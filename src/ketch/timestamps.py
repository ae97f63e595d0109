"""Times as Docker writes them: RFC 3339 in UTC with nine fractional digits.

"2026-01-02T03:04:05.123456789Z", and Go's zero time for "never". Only the time
module, which the fork server already loads: the shim stamps every log line with
this, and datetime would be one more module in every shim, so parsing does the
calendar arithmetic itself.
"""

from __future__ import annotations

import time

ZERO_TIME = "0001-01-01T00:00:00Z"

_NANOS = 1_000_000_000


def rfc3339_nano(time_ns: int | None = None) -> str:
    """`time_ns` (nanoseconds since the epoch; now when None) as Docker stamps times."""
    if time_ns is None:
        time_ns = time.time_ns()
    seconds, nanos = divmod(time_ns, _NANOS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def rfc3339_from_seconds(seconds: float) -> str:
    """Seconds since the epoch (a float such as st_mtime) as Docker stamps times."""
    return rfc3339_nano(round(seconds * _NANOS))


def parse_rfc3339(text: str | None) -> float | None:
    """Seconds since the epoch for an RFC 3339 stamp; None for no stamp or Go's zero time.

    Takes any precision and a Z or ±hh:mm zone. Raises ValueError for anything else.
    """
    if not text or text.startswith("0001-01-01T00:00:00"):
        return None
    date, separator, clock = text.strip().partition("T")
    if not separator:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    clock, offset = _split_zone(clock, text)
    hms, _, fraction = clock.partition(".")
    year, month, day = _numbers(date, "-", 3, text)
    hour, minute, second = _numbers(hms, ":", 3, text)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    if fraction and not fraction.isdigit():
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    whole = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    return whole - offset + nanos / _NANOS


# Go's time.ParseDuration units, in seconds.
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}  # fmt: skip


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration ("10m", "1h30m", "1.5s"); ValueError for anything else."""
    if not text:
        raise ValueError("empty duration")
    total, rest = 0.0, text
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789."))
        units = rest[digits:]
        unit = next((u for u in ("ns", "us", "µs", "ms", "h", "m", "s") if units.startswith(u)),
                    None)  # fmt: skip
        if digits == 0 or unit is None:
            raise ValueError(f"not a duration: {text!r}")
        total += float(rest[:digits]) * _DURATION_UNITS[unit]
        rest = units[len(unit):]
    return total


def parse_docker_time(text: str, now: float) -> float:
    """A time as dockerd takes since/until: a Go duration before `now` ("10m", "24h"), Unix
    seconds (with a fraction), or RFC 3339. ValueError for anything else."""
    if text[-1:].isalpha() and not text[:1].isalpha() and "T" not in text:
        return now - parse_go_duration(text)
    try:
        return float(text)
    except ValueError:
        seconds = parse_rfc3339(text)
    if seconds is None:
        raise ValueError(f"not a time: {text!r}")
    return seconds


def _split_zone(clock: str, text: str) -> tuple[str, int]:
    """(clock without its zone, the zone's offset east of UTC in seconds)."""
    if clock[-1:] in ("Z", "z"):
        return clock[:-1], 0
    if len(clock) > 6 and clock[-6] in "+-" and clock[-3] == ":":
        hours, minutes = _numbers(clock[-5:], ":", 2, text)
        offset = hours * 3600 + minutes * 60
        return clock[:-6], offset if clock[-6] == "+" else -offset
    raise ValueError(f"not an RFC 3339 time (no zone): {text!r}")


def _numbers(part: str, separator: str, count: int, text: str) -> list[int]:
    fields = part.split(separator)
    if len(fields) != count or not all(f.isdigit() for f in fields):
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    return [int(f) for f in fields]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468
