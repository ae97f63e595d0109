from __future__ import annotations

import json
from pathlib import Path

from ketch.shim.jsonlog import MAX_LINE, JsonFileLog, encode_line, split_lines


def test_line_is_dockers_json_file_format() -> None:
    line = encode_line(b"hello\n", "stdout", 1_700_000_000_500_000_000)
    assert line == (
        b'{"log":"hello\\n","stream":"stdout","time":"2023-11-14T22:13:20.500000000Z"}\n'
    )


def test_line_escapes_as_go_does_and_keeps_utf8() -> None:
    line = encode_line("<a&b> \u00e9\t\x01\n".encode(), "stderr", 0)
    assert line.startswith('{"log":"\\u003ca\\u0026b\\u003e \u00e9\\t\\u0001\\n"'.encode())
    assert json.loads(line)["log"] == "<a&b> \u00e9\t\x01\n"


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert json.loads(encode_line(b"\xff\n", "stdout", 0))["log"] == "\ufffd\n"


def test_split_lines_keeps_partial_and_cuts_long_lines() -> None:
    assert split_lines(b"", b"a\nb\nc") == ([b"a\n", b"b\n"], b"c")
    assert split_lines(b"c", b"d\n") == ([b"cd\n"], b"")
    long = b"x" * (MAX_LINE + 5) + b"\n"
    assert split_lines(b"", long) == ([b"x" * MAX_LINE, b"xxxxx\n"], b"")
    assert split_lines(b"", b"y" * MAX_LINE) == ([b"y" * MAX_LINE], b"")


def test_log_writes_lines_per_stream_and_flushes_partial(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(str(path))
    log.write("stdout", b"one\ntw")
    log.write("stderr", b"err\n")
    log.write("stdout", b"o\nthree")
    log.close()
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["stream"], e["log"]) for e in entries] == [
        ("stdout", "one\n"),
        ("stderr", "err\n"),
        ("stdout", "two\n"),
        ("stdout", "three"),
    ]


def test_rotation_keeps_max_files(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(str(path), max_size=200, max_files=3)
    for index in range(20):
        log.write("stdout", f"line {index:02d}\n".encode())
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 200
    newest = [json.loads(x)["log"] for x in path.read_text().splitlines()]
    assert newest[-1] == "line 19\n"
    older = [json.loads(x)["log"] for x in (tmp_path / "c-json.log.1").read_text().splitlines()]
    assert older[-1] == f"line {int(newest[0][5:7]) - 1:02d}\n"


def test_max_file_one_truncates(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(str(path), max_size=150, max_files=1)
    for index in range(10):
        log.write("stdout", f"line {index}\n".encode())
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c-json.log"]
    assert json.loads(path.read_text().splitlines()[-1])["log"] == "line 9\n"


def test_one_large_write_is_spread_over_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(str(path), max_size=1000, max_files=2)
    log.write("stdout", b"".join(f"line {i:03d}\n".encode() for i in range(100)))
    log.close()
    assert path.stat().st_size <= 1000
    assert (tmp_path / "c-json.log.1").stat().st_size <= 1000
    assert json.loads(path.read_text().splitlines()[-1])["log"] == "line 099\n"
