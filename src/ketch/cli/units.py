"""Docker's human units as the CLI shows and reads them: ages, sizes, sizes typed by users."""

from __future__ import annotations

from ketch import units
from ketch.units import human_duration

# datetime and re are kept off the import path of `run` (it reads sizes only) and `ps`
# (ages of unix times): the annotations are strings, so the name is needed by checkers
# only, and re is imported where a pattern is matched.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

_BINARY_MULTIPLIERS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
# Patterns as text: re compiles (and caches) them at first use, not at import.
_RAM_PATTERN = r"(?i)^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$"


def human_size(size: float, precision: int = 3) -> str:
    """The docker CLI's sizes: go-units with three significant digits, "4.26MB"."""
    return units.human_size(size, precision)


def ram_in_bytes(text: str) -> int:
    """As go-units RAMInBytes: "512m", "1g", "100k", "1024" -> bytes (binary units)."""
    import re

    match = re.match(_RAM_PATTERN, text.strip())
    if not match:
        raise ValueError(f"invalid size: '{text}'")
    number, unit = match.groups()
    unit = unit.lower()
    if unit == "p":
        return int(float(number) * (1 << 50))
    return int(float(number) * _BINARY_MULTIPLIERS[unit])


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Docker's form); None for Go's zero time."""
    import re
    from datetime import datetime

    if not text or text.startswith("0001-01-01"):
        return None
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        return None
    base, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{base}.{micro}{zone}")


def since(moment: datetime | float | int, now: datetime | None = None) -> float:
    """Seconds from `moment` (datetime or unix time) until now."""
    if now is None and isinstance(moment, (int, float)):
        import time

        return time.time() - moment
    from datetime import UTC, datetime

    now = now or datetime.now(UTC)
    if isinstance(moment, (int, float)):
        return now.timestamp() - moment
    return (now - moment).total_seconds()


def ago(moment: datetime | float | int | None, now: datetime | None = None) -> str:
    if moment is None:
        return ""
    return human_duration(max(0.0, since(moment, now))) + " ago"


_DURATION_PART = r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)"
_DURATION_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
}


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration like "10m", "1h30m", "2.5s"; None if it is not one."""
    import re

    if not text or re.sub(_DURATION_PART, "", text) != "":
        return None
    return sum(float(n) * _DURATION_SECONDS[u] for n, u in re.findall(_DURATION_PART, text))


def api_time(text: str, now: datetime | None = None) -> str:
    """A --since/--until value as the API takes it: unix seconds (relative or absolute)."""
    import re
    from datetime import UTC, datetime

    duration = go_duration(text)
    if duration is not None:
        now = now or datetime.now(UTC)
        return _seconds_text(now.timestamp() - duration)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return text
    moment = parse_timestamp(text)
    if moment is None:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f'invalid value for "since": "{text}"') from None
        if moment.tzinfo is None:
            moment = moment.astimezone()
    return _seconds_text(moment.timestamp())


def _seconds_text(value: float) -> str:
    seconds = int(value)
    nanos = int(round((value - seconds) * 1e9))
    return f"{seconds}.{nanos:09d}"
