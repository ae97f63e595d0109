"""COPY/ADD's pure parts: Go's filepath.Match for source wildcards, destinations under
WORKDIR, --chown against the image's own passwd and group files, the cache digest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ketch.build.copying import (
    CopyError,
    filename_for_download,
    go_match,
    has_wildcards,
    normalize_dest,
    resolve_chown,
    sources_digest,
)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "d/a.txt", False),
        ("d/*.txt", "d/a.txt", True),
        ("?.txt", "ab.txt", False),
        ("[a-c]*", "banana", True),
        ("[^a-c]*", "banana", False),
        ("a\\*", "a*", True),
        ("a\\*", "ab", False),
        ("*", "", True),
        ("[", "[", False),  # a malformed pattern matches nothing
    ],
)
def test_go_match(pattern: str, name: str, expected: bool) -> None:
    assert go_match(pattern, name) is expected


def test_has_wildcards() -> None:
    assert has_wildcards("*.go") and has_wildcards("a?") and has_wildcards("[ab]")
    assert not has_wildcards("plain") and not has_wildcards("a\\*")


def test_normalize_dest() -> None:
    assert normalize_dest("/abs", "/work") == "/abs"
    assert normalize_dest("rel", "/work") == "/work/rel"
    assert normalize_dest("rel/", "/work") == "/work/rel/"
    assert normalize_dest(".", "/work") == "/work"
    assert normalize_dest("./", "/work") == "/work/"
    assert normalize_dest("../up", "/work") == "/up"
    assert normalize_dest("x", "") == "/x"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
        "web:x:33:33::/var/www:/bin/sh\n"
    )
    (tmp_path / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nstaff:x:50:\n")
    return tmp_path


def test_resolve_chown_names_and_numbers(rootfs: Path) -> None:
    assert resolve_chown(rootfs, "app") == (1000, 1000)
    assert resolve_chown(rootfs, "app:staff") == (1000, 50)
    assert resolve_chown(rootfs, "123:456") == (123, 456)
    assert resolve_chown(rootfs, "123") == (123, 123)
    assert resolve_chown(rootfs, "app:50") == (1000, 50)


def test_resolve_chown_errors_in_dockers_words(rootfs: Path) -> None:
    prefix = "unable to convert uid/gid chown string to host mapping: "
    with pytest.raises(CopyError) as info:
        resolve_chown(rootfs, "nobody:root")
    assert str(info.value) == prefix + "can't find uid for user nobody: no such user: nobody"
    # A lone user name is the group's name too: web has no group of its own.
    with pytest.raises(CopyError) as info:
        resolve_chown(rootfs, "web")
    assert str(info.value) == prefix + "can't find gid for group web: no such group: web"
    with pytest.raises(CopyError, match="invalid chown string format: a:b:c"):
        resolve_chown(rootfs, "a:b:c")


def test_resolve_chown_reads_the_images_files_not_the_hosts(tmp_path: Path) -> None:
    (tmp_path / "etc").symlink_to("/usr/etc")  # inside the image: there is none
    with pytest.raises(CopyError, match="can't find uid for user root: open /etc/passwd"):
        resolve_chown(tmp_path, "root")
    (tmp_path / "etc").unlink()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").symlink_to("../../../../../../etc/passwd")  # itself
    with pytest.raises(CopyError, match="too many levels of symbolic links"):
        resolve_chown(tmp_path, "root")


def test_sources_digest(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("one")
    (tmp_path / "b").write_text("two")
    (tmp_path / "d" / "l").symlink_to("a")
    first = sources_digest(tmp_path, ["d", "b"])
    assert first.startswith("sha256:") and first == sources_digest(tmp_path, ["d", "b"])
    os.utime(tmp_path / "d" / "a", (1, 1))  # a touch keeps the cache
    assert sources_digest(tmp_path, ["d", "b"]) == first
    os.chmod(tmp_path / "b", 0o600)
    after_mode = sources_digest(tmp_path, ["d", "b"])
    assert after_mode != first
    (tmp_path / "d" / "a").write_text("uno")
    after_content = sources_digest(tmp_path, ["d", "b"])
    assert after_content != after_mode
    (tmp_path / "d" / "l").unlink()
    (tmp_path / "d" / "l").symlink_to("b")
    assert sources_digest(tmp_path, ["d", "b"]) != after_content
    (tmp_path / "d" / "new").write_text("")
    assert sources_digest(tmp_path, ["*"]) != sources_digest(tmp_path, ["d", "b"])


def test_filename_for_download() -> None:
    assert filename_for_download("http://h/a/b.tar.gz?x=1", None) == "b.tar.gz"
    assert filename_for_download("http://h/dir/", 'attachment; filename="f.txt"') == "f.txt"
    assert filename_for_download("http://h/", None) == ""
