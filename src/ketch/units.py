"""Docker's human units (go-units and its JSON progress bar), pure and shared.

The daemon writes them into API answers ("Up 3 seconds", a pull's `progress`
string) and the CLI into its tables and progress lines; one copy keeps both
exactly as Docker shows them.
"""

from __future__ import annotations

from ketch.errors import InvalidArgument

DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
PROGRESS_BAR_TICKS = 50


def human_duration(seconds: float) -> str:
    """As go-units HumanDuration: "Less than a second", "About a minute", "2 hours"."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = whole // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    # Go's Duration.Round(time.Hour) rounds halves away from zero (Python's round() would not).
    hours = int((seconds + 1800) // 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


def human_size(size: float, precision: int = 4) -> str:
    """As go-units HumanSizeWithPrecision: decimal units; HumanSize is precision 4
    ("2.479kB"), the docker CLI's tables use 3 ("4.26MB")."""
    index = 0
    while size >= 1000 and index < len(DECIMAL_UNITS) - 1:
        size /= 1000
        index += 1
    return f"{size:.{precision}g}{DECIMAL_UNITS[index]}"


def progress_bar(current: int, total: int) -> str:
    """Docker's JSONProgress string: `[=========>         ]  1.2MB/3.4MB`."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    ticks = min(int(current / total * 100) // 2, PROGRESS_BAR_TICKS)
    bar = f"[{'=' * ticks}>{' ' * (PROGRESS_BAR_TICKS - ticks)}] "
    if current > total:  # a wonky total is hidden, as Docker does
        return bar + f"{human_size(current):>8}"
    return bar + f"{human_size(current):>8}/{human_size(total)}"


def parse_size(text: str | None) -> int | None:
    """Docker's human sizes: "10m", "1g", "512k", "100" (bytes)."""
    if not text:
        return None
    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    raw = text.strip().lower().removesuffix("b") if len(text.strip()) > 1 else text.strip()
    unit = 1
    if raw and raw[-1] in units:
        unit = units[raw[-1]]
        raw = raw[:-1]
    try:
        value = float(raw)
    except ValueError:
        raise InvalidArgument(f"invalid size: '{text}'") from None
    if value < 0:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(value * unit)
