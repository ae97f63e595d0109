"""Atomic file writes: all or nothing, durable, and no temporary file left behind."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from ketch import atomicfile
from ketch.runtime import syscalls


def test_bytes_text_and_json_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "file"
    atomicfile.write_bytes(target, b"\x00\xffbytes")
    assert target.read_bytes() == b"\x00\xffbytes"
    atomicfile.write_text(target, "tëxt")
    assert target.read_text() == "tëxt"
    value = {"b": [1, None, "x"], "a": {"nested": True}}
    atomicfile.write_json(target, value)
    assert json.loads(target.read_text()) == value
    assert os.listdir(tmp_path) == ["file"]


def test_json_keeps_each_callers_formatting(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomicfile.write_json(target, {"b": 1, "a": 2}, sort_keys=True)
    assert target.read_text() == '{"a": 2, "b": 1}\n'
    atomicfile.write_json(target, {"b": 1, "a": 2}, indent=1)
    assert target.read_text() == '{\n "b": 1,\n "a": 2\n}\n'
    atomicfile.write_json(target, {"a": 1}, indent="\t")
    assert target.read_text() == '{\n\t"a": 1\n}\n'


def test_mode_is_the_new_files(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("old")
    target.chmod(0o644)
    atomicfile.write_text(target, "new", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_value_json_cannot_encode_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    atomicfile.write_json(target, {"old": 1})
    with pytest.raises(TypeError):
        atomicfile.write_json(target, {"new": object()})
    assert json.loads(target.read_text()) == {"old": 1}
    assert os.listdir(tmp_path) == ["config.json"]


def test_an_interrupt_mid_write_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file"
    target.write_text("old")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomicfile.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomicfile.write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["file"]


def test_short_writes_are_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    calls = []

    def three_bytes_at_a_time(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real_write(fd, bytes(data[:3]))

    monkeypatch.setattr(atomicfile.os, "write", three_bytes_at_a_time)
    atomicfile.write_bytes(tmp_path / "file", b"0123456789")
    monkeypatch.undo()
    assert (tmp_path / "file").read_bytes() == b"0123456789"
    assert calls == [10, 7, 4, 1]


def test_the_file_and_then_its_directory_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[str, bool]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), stat.S_ISDIR(os.fstat(fd).st_mode)))
        real_fsync(fd)

    monkeypatch.setattr(atomicfile.os, "fsync", recording_fsync)
    atomicfile.write_json(tmp_path / "file.json", [1])
    monkeypatch.undo()
    (file_path, file_is_dir), (dir_path, dir_is_dir) = synced
    # The temporary file is synced before its rename, under its own name, beside the target.
    assert Path(file_path).parent == tmp_path and Path(file_path).name != "file.json"
    assert not file_is_dir
    assert (dir_path, dir_is_dir) == (str(tmp_path), True)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    syscalls.mount("tmpfs", str(mountpoint), "tmpfs", 0, "size=16k")
    try:
        yield mountpoint
    finally:
        syscalls.umount2(str(mountpoint), syscalls.MNT_DETACH)


def test_a_full_disk_leaves_the_old_file_and_no_temporary(tiny_tmpfs: Path) -> None:
    target = tiny_tmpfs / "state.json"
    atomicfile.write_json(target, {"generation": 1})
    with pytest.raises(OSError) as failure:
        atomicfile.write_bytes(target, b"x" * (1 << 20))
    assert failure.value.errno == errno.ENOSPC
    assert json.loads(target.read_text()) == {"generation": 1}
    assert os.listdir(tiny_tmpfs) == ["state.json"]
    # The space the failed write took is free again: a small write still fits.
    atomicfile.write_json(target, {"generation": 2})
    assert json.loads(target.read_text()) == {"generation": 2}


def test_a_write_that_need_not_outlive_the_kernel_skips_the_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    atomicfile.write_json(tmp_path / "state.json", {"a": 1}, durable=False)
    assert synced == [] and json.loads((tmp_path / "state.json").read_text()) == {"a": 1}
    atomicfile.write_json(tmp_path / "state.json", {"a": 2})
    assert len(synced) == 2  # the file, then its directory
