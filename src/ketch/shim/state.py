"""shim-state.json: what a restarted daemon reads to learn about a container's shim and exit.

Pids are stored with their start time (field 22 of /proc/<pid>/stat) so a
pid reused by another process is not mistaken for the shim.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ketch.runtime.procinfo import proc_start_time

__all__ = [
    "STATE_FILE",
    "proc_start_time",
    "is_same_process",
    "write_atomic",
    "read_state",
    "shim_alive",
]

STATE_FILE = "shim-state.json"


def is_same_process(pid: int | None, start_time: int | None) -> bool:
    if not pid or start_time is None:
        return False
    return proc_start_time(pid) == start_time


def write_atomic(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Temp file, fsync, rename. Plain os calls and json's C encoder (no indent, which would
    run the pure-Python one): every page of code and data the shim touches becomes a private
    copy of the fork server's, so its steady path stays short."""
    path = os.fspath(path)
    temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    payload = memoryview(json.dumps(data, sort_keys=True).encode() + b"\n")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            while payload:
                payload = payload[os.write(fd, payload) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)  # a full disk leaves no stray temp file
        except FileNotFoundError:
            pass
        raise


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        with open(Path(state_dir) / STATE_FILE) as f:
            state = json.load(f)
        return state if isinstance(state, dict) else None
    except (OSError, ValueError):
        return None


def shim_alive(state: dict[str, Any]) -> bool:
    return is_same_process(state.get("shim_pid"), state.get("shim_start_time"))
