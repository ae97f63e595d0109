"""The build context unpacked for real, in temporary directories, as root: what a
client sends arrives whole (modes, owners, times, links), and a malicious tar writes
nothing outside the context."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from ketch.build.context import read_dockerfile, unpack_context
from ketch.errors import InvalidArgument, NotFound


def entry(
    name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, link: str = "",
    mode: int = 0o644, uid: int = 0, gid: int = 0, mtime: int = 1_500_000_000,
) -> tuple[tarfile.TarInfo, bytes]:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    info.uid, info.gid, info.mtime = uid, gid, mtime
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def tar_of(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(context, outside): the outside directory is what an escape would reach."""
    context, outside = tmp_path / "context", tmp_path / "outside"
    context.mkdir()
    outside.mkdir()
    return context, outside


SAMPLE = [
    entry("Dockerfile", b"FROM scratch\n"),
    entry("app", kind=tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1001, mtime=1_400_000_000),
    entry("app/run.sh", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1001),
    entry("app/link", kind=tarfile.SYMTYPE, link="run.sh"),
    entry("app/hard", kind=tarfile.LNKTYPE, link="app/run.sh"),
    entry(".wh.not-a-whiteout", b"plain"),
]


@pytest.mark.parametrize(
    "compress",
    [
        lambda b: b,
        gzip.compress,
        bz2.compress,
        lzma.compress,
        lambda b: zstandard.ZstdCompressor().compress(b),
    ],
    ids=["plain", "gzip", "bzip2", "xz", "zstd"],
)
def test_unpack_keeps_metadata_whatever_the_compression(dirs: tuple[Path, Path], compress) -> None:  # type: ignore[no-untyped-def]
    context, _ = dirs
    unpack_context(io.BytesIO(compress(tar_of(SAMPLE))), context)
    run = context / "app" / "run.sh"
    st = os.lstat(run)
    assert run.read_bytes() == b"#!/bin/sh\n"
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o4755, 1000, 1001)
    assert st.st_mtime == 1_500_000_000
    app = os.lstat(context / "app")
    assert (app.st_mode & 0o7777, app.st_uid, app.st_mtime) == (0o750, 1000, 1_400_000_000)
    assert os.readlink(context / "app" / "link") == "run.sh"
    assert os.lstat(context / "app" / "hard").st_ino == st.st_ino
    assert (context / ".wh.not-a-whiteout").read_bytes() == b"plain"


def test_unpack_from_chunks(dirs: tuple[Path, Path]) -> None:
    context, _ = dirs
    data = gzip.compress(tar_of(SAMPLE))
    unpack_context((data[i : i + 7] for i in range(0, len(data), 7)), context)
    assert (context / "Dockerfile").read_bytes() == b"FROM scratch\n"


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([entry("/abs", b"x")], "absolute path"),
        ([entry("../escape", b"x")], "path escapes the build context"),
        ([entry("a/../../escape", b"x")], "path escapes the build context"),
        (
            [entry("a", kind=tarfile.SYMTYPE, link="{outside}"), entry("a/escape", b"x")],
            "is a symlink or not a directory",
        ),
        (
            [entry("a", kind=tarfile.SYMTYPE, link="../outside"), entry("a/escape", b"x")],
            "is a symlink or not a directory",
        ),
        ([entry("h", kind=tarfile.LNKTYPE, link="../outside/secret")], "outside the build context"),
        ([entry("h", kind=tarfile.LNKTYPE, link="{outside}/secret")], "outside the build"),
        (
            [
                entry("l", kind=tarfile.SYMTYPE, link="{outside}"),
                entry("h", kind=tarfile.LNKTYPE, link="l/secret"),
            ],
            "is a symlink or not a directory",
        ),
        ([entry("dev", kind=tarfile.CHRTYPE)], "device nodes are refused"),
        ([entry("blk", kind=tarfile.BLKTYPE)], "device nodes are refused"),
    ],
    ids=[
        "absolute", "dotdot", "inner-dotdot", "symlink-abs-parent", "symlink-rel-parent",
        "hardlink-dotdot", "hardlink-abs", "hardlink-through-symlink", "chardev", "blockdev",
    ],
)  # fmt: skip
def test_malicious_tars_are_refused_and_write_nothing_outside(
    dirs: tuple[Path, Path], entries: list[tuple[tarfile.TarInfo, bytes]], why: str
) -> None:
    context, outside = dirs
    (outside / "secret").write_text("secret")
    for info, _ in entries:
        info.linkname = info.linkname.replace("{outside}", str(outside))
    before = sorted(p.name for p in outside.iterdir())
    with pytest.raises(InvalidArgument, match=why):
        unpack_context(io.BytesIO(tar_of(entries)), context)
    assert sorted(p.name for p in outside.iterdir()) == before
    assert (outside / "secret").read_text() == "secret"
    assert os.stat(outside / "secret").st_nlink == 1
    assert not (context.parent / "escape").exists()


def test_not_a_tar_is_refused(dirs: tuple[Path, Path]) -> None:
    context, _ = dirs
    with pytest.raises(InvalidArgument, match="invalid build context"):
        unpack_context(io.BytesIO(b"this is no tar at all" * 40), context)
    with pytest.raises(InvalidArgument, match="invalid build context"):
        unpack_context(io.BytesIO(gzip.compress(tar_of(SAMPLE))[:60]), context / "..")


def test_read_dockerfile_by_name_and_lowercase_fallback(dirs: tuple[Path, Path]) -> None:
    context, _ = dirs
    (context / "dockerfile").write_text("FROM a\n")
    assert read_dockerfile(context, "Dockerfile") == "FROM a\n"
    (context / "sub").mkdir()
    (context / "sub" / "app.df").write_text("FROM b\n")
    assert read_dockerfile(context, "sub/app.df") == "FROM b\n"
    with pytest.raises(NotFound, match="Cannot locate specified Dockerfile: other"):
        read_dockerfile(context, "other")


def test_read_dockerfile_stays_in_the_context(dirs: tuple[Path, Path]) -> None:
    context, outside = dirs
    (outside / "Dockerfile").write_text("FROM outside\n")
    (context / "Dockerfile").write_text("FROM inside\n")
    # dockerd scopes the path into the context: `..` and `/` cannot climb out of it.
    with pytest.raises(NotFound):
        read_dockerfile(context, "../outside/Dockerfile")
    assert read_dockerfile(context, "/Dockerfile") == "FROM inside\n"
    (context / "link").symlink_to("/Dockerfile")  # the context's own, as in a chroot
    assert read_dockerfile(context, "link") == "FROM inside\n"
    (context / "out").symlink_to(outside / "Dockerfile")
    with pytest.raises(NotFound):
        read_dockerfile(context, "out")


def test_ignored_dockerfile_and_dockerignore_are_dropped(dirs: tuple[Path, Path]) -> None:
    context, _ = dirs
    (context / "Dockerfile").write_text("FROM a\n")
    (context / ".dockerignore").write_text("Dockerfile\n.dockerignore\n*.log\n")
    (context / "x.log").write_text("kept: the client filters, not the daemon")
    assert read_dockerfile(context) == "FROM a\n"
    assert sorted(p.name for p in context.iterdir()) == ["x.log"]


def test_build_files_kept_when_not_ignored(dirs: tuple[Path, Path]) -> None:
    context, _ = dirs
    (context / "Dockerfile").write_text("FROM a\n")
    (context / ".dockerignore").write_text("*.log\n")
    read_dockerfile(context)
    assert sorted(p.name for p in context.iterdir()) == [".dockerignore", "Dockerfile"]
