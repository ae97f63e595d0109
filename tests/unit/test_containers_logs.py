from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from ketch.containers.logs import read_logs


def line(text: str, stream: str = "stdout", stamp: str = "2026-01-01T00:00:00.000000001Z") -> bytes:
    return json.dumps({"log": text, "stream": stream, "time": stamp}).encode() + b"\n"


def collect(path: Path, **kwargs) -> list[tuple[int, bytes]]:
    async def run() -> list[tuple[int, bytes]]:
        options = {
            "streams": {1, 2},
            "tail": None,
            "since": None,
            "until": None,
            "timestamps": False,
            "follow": False,
            "still_running": lambda: False,
        }
        options.update(kwargs)
        return [item async for item in read_logs(path, **options)]  # fmt: skip

    return asyncio.run(run())


def test_rotated_files_are_read_oldest_first_and_tail_applies(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    Path(f"{log}.2").write_bytes(line("a\n"))
    Path(f"{log}.1").write_bytes(line("b\n") + line("e\n", "stderr"))
    log.write_bytes(line("c\n") + b'{"log": "cut sho')
    assert collect(log) == [(1, b"a\n"), (1, b"b\n"), (2, b"e\n"), (1, b"c\n")]
    assert collect(log, tail=2) == [(2, b"e\n"), (1, b"c\n")]
    assert collect(log, streams={2}) == [(2, b"e\n")]
    assert collect(log, tail=1, timestamps=True) == [(1, b"2026-01-01T00:00:00.000000001Z c\n")]


def test_since_and_until_filter_by_time(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    log.write_bytes(line("old\n", stamp="2020-01-01T00:00:00Z")
                    + line("new\n", stamp="2026-01-01T00:00:00Z"))  # fmt: skip
    assert collect(log, since=1700000000.0) == [(1, b"new\n")]
    assert collect(log, until=1700000000.0) == [(1, b"old\n")]


def test_follow_sees_lines_written_later_and_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    log.write_bytes(line("one\n"))
    running = [True]

    async def writer() -> None:
        await asyncio.sleep(0.1)
        with open(log, "ab") as out:
            out.write(line("two\n"))
        await asyncio.sleep(0.1)
        os.replace(log, f"{log}.1")
        log.write_bytes(line("three\n"))
        await asyncio.sleep(0.1)
        running[0] = False

    async def run() -> list[tuple[int, bytes]]:
        task = asyncio.create_task(writer())
        got = [item async for item in read_logs(
            log, streams={1}, tail=None, since=None, until=None, timestamps=False,
            follow=True, still_running=lambda: running[0])]  # fmt: skip
        await task
        return got

    assert asyncio.run(run()) == [(1, b"one\n"), (1, b"two\n"), (1, b"three\n")]
