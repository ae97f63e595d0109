"""Docker's JSON progress messages, worded and formatted as dockerd sends them.

The docker CLI prints `progress` verbatim and matches on `status` text, so
the bar and sizes follow moby's jsonmessage formatting exactly: a 50-tick bar
(the daemon formats for a 200-column terminal) and go-units' HumanSize.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[[dict[str, Any]], None]

SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
BAR_TICKS = 50


def human_size(size: float) -> str:
    """go-units HumanSize: decimal units, four significant digits (`2.479kB`)."""
    unit = 0
    while size >= 1000 and unit < len(SIZE_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.4g}{SIZE_UNITS[unit]}"


def progress_bar(current: int, total: int) -> str:
    """The `progress` string: `[=====>     ]  1.2MB/3.4MB`."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    ticks = min(int(current / total * 100) // 2, BAR_TICKS)
    bar = f"[{'=' * ticks}>{' ' * (BAR_TICKS - ticks)}] "
    if current > total:
        return bar + f"{human_size(current):>8}"
    return bar + f"{human_size(current):>8}/{human_size(total)}"


def status(text: str, layer_id: str | None = None) -> dict[str, Any]:
    """A message without progress (`Pulling fs layer`, `Pull complete`, ...)."""
    message: dict[str, Any] = {"status": text}
    if layer_id is not None:
        message["progressDetail"] = {}
        message["id"] = layer_id
    return message


def moving(text: str, layer_id: str, current: int, total: int) -> dict[str, Any]:
    """`Downloading` / `Extracting` with a byte count and a bar."""
    return {
        "status": text,
        "progressDetail": {"current": current, "total": total},
        "progress": progress_bar(current, total),
        "id": layer_id,
    }


def short_id(digest: str) -> str:
    """The 12 hex digits a layer is shown by."""
    return digest.split(":", 1)[-1][:12]
