"""ketch-monitor's json-file log is byte for byte what jsonlog.JsonFileLog writes.

The C writer is driven through `ketch-monitor --jsonlog PATH MAX_SIZE MAX_FILES`
(records on stdin: a stream byte, a big-endian u32 length, the data); both logs
get the same writes and every file they leave must match, times aside.
"""

from __future__ import annotations

import random
import re
import struct
import subprocess
from pathlib import Path

import pytest

from ketch.shim.jsonlog import MAX_LINE, JsonFileLog
from ketch.shim.server import find_monitor

Writes = list[tuple[str, bytes]]

TIME = re.compile(rb'"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"}\n')


def normalized(data: bytes) -> bytes:
    """The log with every line's time the same; the times are the only difference allowed,
    and they have one length, so rotation points do not depend on them."""
    lines = data.splitlines(keepends=True)
    assert all(TIME.search(line) for line in lines), data[:200]
    return TIME.sub(b'"time":"T"}\n', data)


def python_log(directory: Path, writes: Writes, max_size: int, max_files: int) -> dict[str, bytes]:
    directory.mkdir()
    log = JsonFileLog(str(directory / "c-json.log"), max_size, max_files)
    for stream, data in writes:
        log.write(stream, data)
    log.close()
    return {p.name: normalized(p.read_bytes()) for p in sorted(directory.iterdir())}


def monitor_log(directory: Path, writes: Writes, max_size: int, max_files: int) -> dict[str, bytes]:
    directory.mkdir()
    records = b"".join(
        (b"o" if stream == "stdout" else b"e") + struct.pack(">I", len(data)) + data
        for stream, data in writes
    )
    subprocess.run(
        [find_monitor(), "--jsonlog", str(directory / "c-json.log"), str(max_size),
         str(max_files)],
        input=records, check=True, timeout=60,
    )  # fmt: skip
    return {p.name: normalized(p.read_bytes()) for p in sorted(directory.iterdir())}


def assert_same(tmp_path: Path, writes: Writes, max_size: int = 0, max_files: int = 1) -> None:
    expected = python_log(tmp_path / "python", writes, max_size, max_files)
    got = monitor_log(tmp_path / "monitor", writes, max_size, max_files)
    assert got.keys() == expected.keys()
    for name, data in expected.items():
        assert got[name] == data, name


TRICKY = [
    b"plain\n",
    b"<script>&amp;</script>\n",
    "\u2028 and \u2029, \u00e9\u4e2d\U0001f600\n".encode(),
    bytes(range(32)) + b'\x7f"\\/\n',
    b"\xff\xfe\xc0\xc1\xf5\xf8\n",  # bytes that start nothing
    b"\xe2\x82\n\xe2\x82A\n\xf0\x80\x80\n\xed\xa0\x80\n\xf4\x90\x80\x80\n",  # cut and out of range
    b"\xc3",  # a partial character, then its end in the next write
    b"\xa9 done\n",
    b"no newline yet",
    b" ... now\n\n\n",
    b"\r\n\t\b\f\x00\n",
]


def test_tricky_bytes_are_escaped_as_python_does(tmp_path: Path) -> None:
    writes = [("stdout" if i % 3 else "stderr", data) for i, data in enumerate(TRICKY)]
    assert_same(tmp_path, writes)


def test_long_lines_are_cut_at_16k_also_inside_a_character(tmp_path: Path) -> None:
    euro = "\u20ac".encode()  # 3 bytes: MAX_LINE is no multiple of it
    writes = [
        ("stdout", euro * (MAX_LINE // 3 + 10) + b"\n"),
        ("stdout", b"x" * (MAX_LINE * 3 + 7)),  # no newline: cut, and a rest left pending
        ("stdout", b"y" * 100 + b"\n"),
        ("stderr", b"z" * MAX_LINE),
        ("stderr", b"tail"),  # flushed without a newline at close
    ]
    assert_same(tmp_path, writes)


@pytest.mark.parametrize("max_size, max_files", [(300, 1), (300, 2), (500, 3), (2000, 5)])
def test_rotation_matches(tmp_path: Path, max_size: int, max_files: int) -> None:
    writes: Writes = [("stdout", f"line {i:03d} <&>\n".encode()) for i in range(60)]
    writes.append(("stderr", b"".join(f"burst {i}\n".encode() for i in range(80))))
    writes.append(("stdout", b"x" * 700 + b"\n"))  # a line larger than max-size
    assert_same(tmp_path, writes, max_size, max_files)


@pytest.mark.parametrize("seed", range(4))
def test_random_output_matches(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    # Mostly high bytes and newlines, so invalid and valid sequences of every length meet.
    alphabet = bytes(range(0x80, 0x100)) + b'\n\n\nab<\x01"\\' + "\u2028\u00e9".encode()
    writes: Writes = []
    for _ in range(300):
        size = rng.choice([1, 2, 3, 7, 100, 5000])
        data = bytes(rng.choice(alphabet) for _ in range(size))
        writes.append((rng.choice(["stdout", "stderr"]), data))
    assert_same(tmp_path, writes, max_size=rng.choice([0, 4096, 20000]), max_files=3)
