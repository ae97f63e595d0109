from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from ketch.containers import archive
from ketch.errors import InvalidArgument, NotFound


@pytest.fixture
def root(tmp_path: Path):
    top = tmp_path / "root"
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "name").write_text("inside\n")
    os.symlink("../../../../..", top / "up")
    os.symlink("/etc", top / "abs")
    os.symlink("loop2", top / "loop1")
    os.symlink("loop1", top / "loop2")
    fd = os.open(top, os.O_PATH | os.O_DIRECTORY)
    yield top, fd
    os.close(fd)


def read(fd: int) -> str:
    with open(f"/proc/self/fd/{fd}") as f:
        return f.read()


def test_links_resolve_inside_the_root(root) -> None:
    top, fd = root
    for path in ("/up/etc/name", "/abs/name", "/../../etc/name", "up/up/abs/../etc/name"):
        found = archive.resolve(fd, path, follow_final=True)
        try:
            assert read(found) == "inside\n", path
        finally:
            os.close(found)


def test_missing_loops_and_non_directories(root) -> None:
    _, fd = root
    with pytest.raises(NotFound):
        archive.resolve(fd, "/etc/none")
    with pytest.raises(InvalidArgument, match="too many levels"):
        archive.resolve(fd, "/loop1", follow_final=True)
    with pytest.raises(InvalidArgument, match="not a directory"):
        archive.resolve(fd, "/etc/name/x")


def test_final_link_is_kept_unless_asked(root) -> None:
    _, fd = root
    stat = archive.path_stat(fd, "/abs")
    assert stat["linkTarget"] == "/etc" and stat["mode"] & archive.GO_SYMLINK
    assert archive.path_stat(fd, "/etc")["mode"] & archive.GO_DIR


def test_extract_refuses_dotdot_and_links_in_member_paths(root) -> None:
    top, fd = root
    for name in ("../evil", "abs/evil"):
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        data.seek(0)
        with pytest.raises(InvalidArgument):
            archive.extract_tar(fd, "/", data, copy_owner=False)
    assert not (top.parent / "evil").exists() and not (top / "etc" / "evil").exists()


def test_tar_round_trip_keeps_modes_and_links(root, tmp_path: Path) -> None:
    top, fd = root
    (top / "etc" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(top / "etc" / "run.sh", 0o4755)
    out = io.BytesIO()
    archive.write_tar(fd, "/etc", out)
    out.seek(0)
    dest = tmp_path / "dest"
    dest.mkdir()
    dest_fd = os.open(dest, os.O_PATH | os.O_DIRECTORY)
    try:
        archive.extract_tar(dest_fd, "/", out, copy_owner=True)
    finally:
        os.close(dest_fd)
    assert (dest / "etc" / "name").read_text() == "inside\n"
    assert (dest / "etc" / "run.sh").stat().st_mode & 0o7777 == 0o4755
