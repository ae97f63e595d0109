"""Docker's JSON progress messages, worded and formatted as dockerd sends them.

The docker CLI prints `progress` verbatim and matches on `status` text, so
the bar and sizes follow moby's jsonmessage formatting exactly: a 50-tick bar
(the daemon formats for a 200-column terminal) and go-units' HumanSize.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ketch.units import human_size, progress_bar

__all__ = ["human_size", "progress_bar"]  # as the daemon's messages use them

Progress = Callable[[dict[str, Any]], None]


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
