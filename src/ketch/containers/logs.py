"""Reading Docker's json-file logs back: tail, since/until, timestamps, follow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ketch.containers.record import parse_time

STREAM_NUMBERS = {"stdin": 0, "stdout": 1, "stderr": 2}
FOLLOW_POLL_SECONDS = 0.05


def log_files(log_path: Path) -> list[Path]:
    """The rotated files oldest first (path.N is older than path.N-1), then the live one."""
    rotated = []
    index = 1
    while (candidate := log_path.with_name(f"{log_path.name}.{index}")).exists():
        rotated.append(candidate)
        index += 1
    return list(reversed(rotated)) + ([log_path] if log_path.exists() else [])


def parse_line(raw: bytes) -> tuple[int, bytes, str] | None:
    try:
        entry = json.loads(raw)
        return STREAM_NUMBERS.get(entry.get("stream"), 1), entry["log"].encode(), entry["time"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a line cut short by a crash or rotation


def _wanted(stamp: str, since: float | None, until: float | None) -> bool:
    if since is None and until is None:
        return True
    moment = parse_time(stamp) or 0.0
    if since is not None and moment < since:
        return False
    return not (until is not None and moment > until)


def _decorate(stamp: str, data: bytes, timestamps: bool) -> bytes:
    return f"{stamp} ".encode() + data if timestamps else data


async def read_logs(
    log_path: Path,
    *,
    streams: set[int],
    tail: int | None,
    since: float | None,
    until: float | None,
    timestamps: bool,
    follow: bool,
    still_running: Callable[[], bool],
) -> AsyncIterator[tuple[int, bytes]]:
    """(stream, bytes) chunks; with follow, keep reading until the container has exited."""
    entries: list[tuple[int, bytes, str]] = []
    for path in log_files(log_path):
        with open(path, "rb") as source:
            for raw in source:
                parsed = parse_line(raw)
                if parsed and parsed[0] in streams and _wanted(parsed[2], since, until):
                    entries.append(parsed)
    if tail is not None and tail >= 0:
        entries = entries[-tail:] if tail else []
    for stream, data, stamp in entries:
        yield stream, _decorate(stamp, data, timestamps)
    if not follow:
        return
    position = log_path.stat().st_size if log_path.exists() else 0
    inode = log_path.stat().st_ino if log_path.exists() else 0
    pending = b""
    while True:
        running = still_running()
        try:
            stat = log_path.stat()
        except FileNotFoundError:
            stat = None
        if stat is not None and (stat.st_ino != inode or stat.st_size < position):
            position, inode, pending = 0, stat.st_ino, b""  # rotated underneath us
        if stat is not None and stat.st_size > position:
            with open(log_path, "rb") as source:
                source.seek(position)
                chunk = source.read()
            position += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                parsed = parse_line(raw)
                if parsed and parsed[0] in streams and _wanted(parsed[2], since, until):
                    yield parsed[0], _decorate(parsed[2], parsed[1], timestamps)
            continue
        if not running:
            return
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
