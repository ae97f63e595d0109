"""Reading Docker's json-file logs back: tail, since/until, timestamps, follow."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

from ketch.timestamps import parse_rfc3339

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
    moment = parse_rfc3339(stamp) or 0.0
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
    live: BinaryIO | None = None
    pending = b""
    try:
        for path in log_files(log_path):
            source = open(path, "rb")  # stays open when it is the live file, for follow
            data = source.read()
            if path == log_path:
                # Follow goes on from exactly here: no line written meanwhile is skipped.
                live = source
                cut = data.rfind(b"\n") + 1
                data, pending = data[:cut], data[cut:]
            else:
                source.close()
            for raw in data.splitlines():
                parsed = parse_line(raw)
                if parsed and parsed[0] in streams and _wanted(parsed[2], since, until):
                    entries.append(parsed)
        if tail is not None and tail >= 0:
            entries = entries[-tail:] if tail else []
        for stream, data, stamp in entries:
            yield stream, _decorate(stamp, data, timestamps)
        if not follow:
            return
        while True:
            running = still_running()
            chunk = live.read() if live is not None else b""
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    parsed = parse_line(raw)
                    if parsed and parsed[0] in streams and _wanted(parsed[2], since, until):
                        yield parsed[0], _decorate(parsed[2], parsed[1], timestamps)
                continue
            if _replaced(log_path, live):
                # Rotated (or made at last): the old file is drained, go on with the new one.
                if live is not None:
                    live.close()
                live, pending = open(log_path, "rb"), b""
                continue
            if not running:
                return
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
    finally:
        if live is not None:
            live.close()


def _replaced(log_path: Path, live: BinaryIO | None) -> bool:
    try:
        current = log_path.stat().st_ino
    except FileNotFoundError:
        return False
    return live is None or os.fstat(live.fileno()).st_ino != current
