"""Go's fmt verbs as Docker's legacy builder writes them into `created_by` (pure).

`CMD %q` of a []string is `["a" "b"]`; `%v` of one is `[a b]`; `HEALTHCHECK %+v` prints
the Healthcheck struct with durations in Go's form (`30s`, `1m30s`, `500ms`).
"""

from __future__ import annotations

from typing import Any

from ketch.gostrings import quote


def quoted_list(items: list[str] | None) -> str:
    """%q of a []string (nil prints as [])."""
    return "[" + " ".join(quote(item) for item in items or []) + "]"


def plain_list(items: list[str] | None) -> str:
    """%v of a []string."""
    return "[" + " ".join(items or []) + "]"


def duration(nanoseconds: int) -> str:
    """time.Duration.String()."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    ns = abs(nanoseconds)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_decimal(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_decimal(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _decimal(rest, 1_000_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{fraction:0{digits}d}".rstrip("0")


def healthcheck(check: dict[str, Any]) -> str:
    """%+v of a *container.HealthConfig."""
    return (
        f"&{{Test:{plain_list(check.get('Test'))}"
        f" Interval:{duration(int(check.get('Interval') or 0))}"
        f" Timeout:{duration(int(check.get('Timeout') or 0))}"
        f" StartPeriod:{duration(int(check.get('StartPeriod') or 0))}"
        f" StartInterval:{duration(int(check.get('StartInterval') or 0))}"
        f" Retries:{int(check.get('Retries') or 0)}}}"
    )
