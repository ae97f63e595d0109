"""COPY and ADD for real, as root, between temporary directories: a context and a
root file system standing in for the container's mounted root."""

from __future__ import annotations

import gzip
import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.build.copying import CopyError, copy_into, fetch_url


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "context"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "b.txt").write_text("b")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o4755)
    os.utime(root / "run.sh", (1_400_000_000, 1_400_000_000))
    (root / "dir" / "one").write_text("1")
    (root / "dir" / "sub" / "two").write_text("2")
    (root / "dir" / "link").symlink_to("one")
    os.link(root / "dir" / "one", root / "dir" / "hard")
    (root / "top-link").symlink_to("a.txt")
    for path in root.rglob("*"):
        os.chown(path, 1234, 1234, follow_symlinks=False)
    os.chmod(root / "run.sh", 0o4755)  # again: chown clears setuid
    return root


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "existing").mkdir()
    os.chmod(root / "existing", 0o700)
    return root


def owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def test_a_file_to_a_new_path_keeps_mode_and_mtime_owned_by_root(ctx: Path, rootfs: Path) -> None:
    copy_into(rootfs, ctx, ["run.sh"], "/usr/local/bin/run")
    target = rootfs / "usr" / "local" / "bin" / "run"
    st = os.lstat(target)
    assert target.read_text() == "#!/bin/sh\n"
    assert (st.st_mode & 0o7777, owner(target), st.st_mtime) == (0o4755, (0, 0), 1_400_000_000)
    created = rootfs / "usr" / "local"
    assert (os.lstat(created).st_mode & 0o7777, owner(created)) == (0o755, (0, 0))


def test_dest_rules(ctx: Path, rootfs: Path) -> None:
    copy_into(rootfs, ctx, ["a.txt"], "/existing")  # an existing directory: inside it
    assert (rootfs / "existing" / "a.txt").read_text() == "a"
    assert os.lstat(rootfs / "existing").st_mode & 0o777 == 0o700  # left as it was
    copy_into(rootfs, ctx, ["a.txt"], "/new/")  # ends in `/`: a directory
    assert (rootfs / "new" / "a.txt").read_text() == "a"
    copy_into(rootfs, ctx, ["a.txt"], "rel", workdir="/app")  # relative: under WORKDIR
    assert (rootfs / "app" / "rel").read_text() == "a"
    copy_into(rootfs, ctx, ["./b.txt", "/a.txt"], "/two/")
    assert sorted(p.name for p in (rootfs / "two").iterdir()) == ["a.txt", "b.txt"]


def test_several_sources_need_a_directory_dest(ctx: Path, rootfs: Path) -> None:
    with pytest.raises(CopyError) as info:
        copy_into(rootfs, ctx, ["a.txt", "b.txt"], "/x")
    assert str(info.value) == (
        "When using COPY with more than one source file, "
        "the destination must be a directory and end with a /"
    )
    with pytest.raises(CopyError, match="When using COPY with more than one source"):
        copy_into(rootfs, ctx, ["*.txt"], "/x")  # one word, two matches
    copy_into(rootfs, ctx, ["a*"], "/one-match")  # one match: a file
    assert (rootfs / "one-match").read_text() == "a"


def test_missing_sources_in_dockers_words(ctx: Path, rootfs: Path) -> None:
    with pytest.raises(CopyError) as info:
        copy_into(rootfs, ctx, ["foo"], "/")
    assert str(info.value) == (
        "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat foo: file does not exist"
    )
    with pytest.raises(CopyError) as info:
        copy_into(rootfs, ctx, ["*.nothing"], "/", command="ADD")
    assert str(info.value) == "ADD failed: no source files were specified"
    with pytest.raises(CopyError, match="^COPY failed: stat foo: file does not exist$"):
        copy_into(rootfs, ctx, ["foo"], "/", from_context=False)
    with pytest.raises(CopyError, match="stat ../../etc/passwd"):
        copy_into(rootfs, ctx, ["../../etc/passwd"], "/")  # `..` stays in the context


def test_a_directory_copies_its_contents_with_links(ctx: Path, rootfs: Path) -> None:
    copy_into(rootfs, ctx, ["dir"], "/data")
    data = rootfs / "data"
    assert sorted(p.name for p in data.iterdir()) == ["hard", "link", "one", "sub"]
    assert os.readlink(data / "link") == "one"
    assert os.lstat(data / "hard").st_ino == os.lstat(data / "one").st_ino
    assert (data / "sub" / "two").read_text() == "2"
    for path in [data, data / "one", data / "link", data / "sub", data / "sub" / "two"]:
        assert owner(path) == (0, 0), path


def test_wildcards_match_at_their_depth(ctx: Path, rootfs: Path) -> None:
    copy_into(rootfs, ctx, ["*.txt", "dir/*"], "/w/")
    assert sorted(p.name for p in (rootfs / "w").iterdir()) == [
        "a.txt", "b.txt", "hard", "link", "one", "two",
    ]  # fmt: skip
    # a matched directory copies its contents: dir/sub gave `two`


def test_a_top_level_symlink_is_followed(ctx: Path, rootfs: Path) -> None:
    copy_into(rootfs, ctx, ["top-link"], "/")
    copied = rootfs / "top-link"
    assert not copied.is_symlink() and copied.read_text() == "a"


def test_chown_and_chmod(ctx: Path, rootfs: Path) -> None:
    copy_into(rootfs, ctx, ["dir"], "/owned/deep", chown=(1000, 1001), chmod=0o640)
    deep = rootfs / "owned" / "deep"
    assert owner(rootfs / "owned") == (1000, 1001)  # made for the copy: its owner too
    assert owner(deep / "one") == (1000, 1001) and owner(deep / "link") == (1000, 1001)
    assert os.lstat(deep / "one").st_mode & 0o7777 == 0o640
    assert os.lstat(deep / "sub").st_mode & 0o7777 == 0o640


def test_dest_symlinks_are_resolved_inside_the_rootfs(tmp_path: Path, ctx: Path,
                                                     rootfs: Path) -> None:  # fmt: skip
    outside = tmp_path / "outside"
    outside.mkdir()
    (rootfs / "escape").symlink_to(outside)  # absolute: means rootfs/<that path>
    (rootfs / "up").symlink_to("../../outside")  # climbs no higher than the root
    copy_into(rootfs, ctx, ["a.txt"], "/escape/")
    copy_into(rootfs, ctx, ["b.txt"], "/up/")
    assert list(outside.iterdir()) == []
    assert (rootfs / str(outside).lstrip("/") / "a.txt").read_text() == "a"
    assert (rootfs / "outside" / "b.txt").read_text() == "b"
    (rootfs / "etc" / "passwd").symlink_to(outside / "passwd")
    copy_into(rootfs, ctx, ["a.txt"], "/etc/passwd")
    assert not (outside / "passwd").exists()


def tar_bytes(entries: list[tuple[str, bytes | None, str]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            info.uid, info.gid, info.mode, info.mtime = 7, 8, 0o640, 1_300_000_000
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_add_unpacks_a_local_tar_and_copy_does_not(tmp_path: Path, ctx: Path,
                                                   rootfs: Path) -> None:  # fmt: skip
    data = tar_bytes([("pkg", None, ""), ("pkg/file", b"x", "")])
    (ctx / "pkg.tar.gz").write_bytes(gzip.compress(data))
    copy_into(rootfs, ctx, ["pkg.tar.gz"], "/opt", unpack_archives=True, command="ADD")
    file = rootfs / "opt" / "pkg" / "file"
    assert file.read_text() == "x"
    assert owner(file) == (7, 8) and os.lstat(file).st_mode & 0o777 == 0o640
    assert os.lstat(file).st_mtime == 1_300_000_000
    copy_into(rootfs, ctx, ["pkg.tar.gz"], "/copied/")
    assert (rootfs / "copied" / "pkg.tar.gz").read_bytes() == gzip.compress(data)


def test_add_tar_cannot_write_outside(tmp_path: Path, ctx: Path, rootfs: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = tar_bytes([("a", None, str(outside)), ("a/passwd", b"owned", "")])
    (ctx / "evil.tar").write_bytes(evil)
    copy_into(rootfs, ctx, ["evil.tar"], "/x", unpack_archives=True, command="ADD")
    assert list(outside.iterdir()) == []
    # The link is followed inside the destination, as in dockerd's chroot.
    assert (rootfs / "x" / str(outside).lstrip("/") / "passwd").read_text() == "owned"
    (ctx / "up.tar").write_bytes(tar_bytes([("../../up", b"x", "")]))
    with pytest.raises(CopyError, match="is outside of the destination"):
        copy_into(rootfs, ctx, ["up.tar"], "/y", unpack_archives=True, command="ADD")
    assert not (tmp_path / "up").exists()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_add_url(tmp_path: Path, rootfs: Path, http_root: tuple[str, Path]) -> None:
    base, served = http_root
    (served / "tool.tar.gz").write_bytes(gzip.compress(tar_bytes([("x", b"1", "")])))
    os.utime(served / "tool.tar.gz", (1_200_000_000, 1_200_000_000))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    fetched = fetch_url(f"{base}/tool.tar.gz", downloads)
    assert fetched.name == "tool.tar.gz"
    assert os.stat(fetched).st_mtime == 1_200_000_000  # Last-Modified
    copy_into(rootfs, tmp_path, [], "/dl/", downloads=[fetched], unpack_archives=True,
              command="ADD")  # fmt: skip
    got = rootfs / "dl" / "tool.tar.gz"  # a URL's archive is not unpacked
    assert got.read_bytes() == (served / "tool.tar.gz").read_bytes()
    assert os.stat(got).st_mode & 0o777 == 0o600
    with pytest.raises(CopyError, match="failed to GET .* with status 404"):
        fetch_url(f"{base}/missing", downloads)
