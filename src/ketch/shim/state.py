"""shim-state.json: what a restarted daemon reads to learn about a container's shim and exit.

Pids are stored with their start time (field 22 of /proc/<pid>/stat) so a
pid reused by another process is not mistaken for the shim.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ketch.runtime.procinfo import proc_start_time

__all__ = [
    "STATE_FILE",
    "proc_start_time",
    "is_same_process",
    "read_state",
    "shim_alive",
]

STATE_FILE = "shim-state.json"


def is_same_process(pid: int | None, start_time: int | None) -> bool:
    if not pid or start_time is None:
        return False
    return proc_start_time(pid) == start_time


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        with open(Path(state_dir) / STATE_FILE) as f:
            state = json.load(f)
        return state if isinstance(state, dict) else None
    except (OSError, ValueError):
        return None


def shim_alive(state: dict[str, Any]) -> bool:
    return is_same_process(state.get("shim_pid"), state.get("shim_start_time"))
