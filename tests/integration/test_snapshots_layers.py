"""Layers unpacked for real, as root: metadata kept, whiteouts, safety, overlay mounts."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from ketch import errors
from ketch.snapshots import SnapshotStore, chain_id

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

MTIME = 1_700_000_000


def entry(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = MTIME
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def make_tar(*entries: tuple[tarfile.TarInfo, bytes | None] | tarfile.TarInfo) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in entries:
            info, data = item if isinstance(item, tuple) else (item, None)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return out.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "snapshots")


def blob(tmp_path: Path, data: bytes, name: str = "layer") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def diff_path(store: SnapshotStore, chain: str) -> Path:
    return store.layer_path(chain)


RICH_LAYER = make_tar(
    entry("./", tarfile.DIRTYPE, mode=0o755),
    entry("bin/", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1001),
    (entry("bin/su", mode=0o4755), b"#!/bin/sh\n"),
    (entry("bin/owned", uid=1000, gid=1000, mtime=1234567890), b"data"),
    entry("bin/hard", tarfile.LNKTYPE, linkname="bin/su"),
    entry("etc-link", tarfile.SYMTYPE, linkname="/etc/passwd", uid=7, gid=8),
    entry("dev/", tarfile.DIRTYPE),
    entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
    entry("dev/pipe", tarfile.FIFOTYPE, mode=0o620),
    (entry("cap", pax_headers={"SCHILY.xattr.user.note": "hello"}), b"x"),
)


def test_rich_layer_keeps_modes_owners_links_devices_and_xattrs(
    store: SnapshotStore, tmp_path: Path
) -> None:
    chain, diff_id, size = store.apply_layer(None, blob(tmp_path, RICH_LAYER), "tar")
    assert chain == diff_id  # a bottom layer's ChainID is its DiffID
    root = diff_path(store, chain)

    su = os.lstat(root / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755
    bin_dir = os.lstat(root / "bin")
    assert (stat.S_IMODE(bin_dir.st_mode), bin_dir.st_uid, bin_dir.st_gid) == (0o750, 1000, 1001)
    assert bin_dir.st_mtime == MTIME  # set after its children were written
    owned = os.lstat(root / "bin/owned")
    assert (owned.st_uid, owned.st_gid, owned.st_mtime) == (1000, 1000, 1234567890)
    assert os.lstat(root / "bin/hard").st_ino == su.st_ino
    assert os.readlink(root / "etc-link") == "/etc/passwd"
    link = os.lstat(root / "etc-link")
    assert (link.st_uid, link.st_gid) == (7, 8)
    null = os.lstat(root / "dev/null")
    assert (
        stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    )
    assert stat.S_IMODE(null.st_mode) == 0o666
    pipe = os.lstat(root / "dev/pipe")
    assert stat.S_ISFIFO(pipe.st_mode) and stat.S_IMODE(pipe.st_mode) == 0o620
    assert os.getxattr(root / "cap", "user.note") == b"hello"
    assert size == len(b"#!/bin/sh\n") + len(b"data") + 1


def test_compressions_unpack_to_the_same_layer(store: SnapshotStore, tmp_path: Path) -> None:
    plain = store.apply_layer(None, blob(tmp_path, RICH_LAYER, "plain"), "tar")
    gz = blob(tmp_path, gzip.compress(RICH_LAYER, mtime=0), "gz")
    zst = blob(tmp_path, zstandard.ZstdCompressor().compress(RICH_LAYER), "zst")
    assert store.apply_layer(None, gz, "tar+gzip") == plain
    assert store.apply_layer(None, zst, "tar+zstd") == plain
    assert store.layers() == [plain[0]]


def test_known_diff_id_skips_unpacking(store: SnapshotStore, tmp_path: Path) -> None:
    chain, diff_id, size = store.apply_layer(None, blob(tmp_path, RICH_LAYER), "tar")
    # The blob is not even opened when the layer is already there.
    again = store.apply_layer(None, tmp_path / "no-such-blob", "tar", diff_id=diff_id)
    assert again == (chain, diff_id, size)


def test_diff_id_mismatch_is_refused(store: SnapshotStore, tmp_path: Path) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(errors.InvalidArgument, match="diff id mismatch"):
        store.apply_layer(None, blob(tmp_path, RICH_LAYER), "tar", diff_id=wrong)
    assert store.layers() == []
    assert [p.name for p in (store.root / "layers").iterdir()] == []


def test_whiteouts_become_overlay_whiteouts(store: SnapshotStore, tmp_path: Path) -> None:
    base, _, _ = store.apply_layer(None, blob(tmp_path, RICH_LAYER), "tar")
    upper = make_tar(
        entry("bin/.wh.owned"),
        entry("dev/", tarfile.DIRTYPE),
        entry("dev/.wh..wh..opq"),
        (entry("dev/new"), b"n"),
    )
    top, diff_id, _ = store.apply_layer(base, blob(tmp_path, upper, "upper"), "tar")
    assert top == chain_id(base, diff_id)
    root = diff_path(store, top)
    whiteout = os.lstat(root / "bin/owned")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == os.makedev(0, 0)
    assert not (root / "bin/.wh.owned").exists()
    assert os.getxattr(root / "dev", "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(root / "dev/.wh..wh..opq")
    assert (root / "dev/new").read_bytes() == b"n"


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A directory outside the store that a bad layer tries to reach."""
    target = tmp_path / "outside"
    target.mkdir()
    (target / "victim").write_text("untouched")
    before = sorted(p.name for p in target.iterdir())
    yield target
    assert sorted(p.name for p in target.iterdir()) == before
    assert (target / "victim").read_text() == "untouched"


def malicious_layers(outside: Path) -> dict[str, bytes]:
    return {
        "../x": make_tar((entry("../x"), b"bad")),
        "a/../../x": make_tar((entry("a/../../x"), b"bad")),
        f"{outside}/victim": make_tar((entry(f"{outside}/victim"), b"bad")),
        "evil/victim": make_tar(
            entry("evil", tarfile.SYMTYPE, linkname=str(outside)),
            (entry("evil/victim"), b"bad"),
        ),
        "evil/sub/new": make_tar(
            entry("evil", tarfile.SYMTYPE, linkname=str(outside)),
            (entry("evil/sub/new"), b"bad"),
        ),
        "evil/.wh.victim": make_tar(
            entry("evil", tarfile.SYMTYPE, linkname=str(outside)),
            entry("evil/.wh.victim"),
        ),
        "passwd-link": make_tar(entry("passwd-link", tarfile.LNKTYPE, linkname="/etc/passwd")),
        "up-link": make_tar(entry("up-link", tarfile.LNKTYPE, linkname="../outside/victim")),
        "via-symlink": make_tar(
            entry("evil", tarfile.SYMTYPE, linkname=str(outside)),
            entry("via-symlink", tarfile.LNKTYPE, linkname="evil/victim"),
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/../../x",
        "absolute",
        "evil/victim",
        "evil/sub/new",
        "evil/.wh.victim",
        "passwd-link",
        "up-link",
        "via-symlink",
    ],
)
def test_malicious_layers_are_refused_and_leave_nothing(
    store: SnapshotStore, tmp_path: Path, outside: Path, name: str
) -> None:
    layers = malicious_layers(outside)
    key = f"{outside}/victim" if name == "absolute" else name
    passwd_before = Path("/etc/passwd").stat()
    with pytest.raises(errors.InvalidArgument, match="invalid layer entry") as caught:
        store.apply_layer(None, blob(tmp_path, layers[key]), "tar")
    assert key.lstrip("/").split("/")[0] in str(caught.value)
    assert store.layers() == []
    assert list((store.root / "layers").iterdir()) == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "snapshots/x").exists()
    after = Path("/etc/passwd").stat()
    assert (after.st_nlink, after.st_mtime_ns) == (
        passwd_before.st_nlink,
        passwd_before.st_mtime_ns,
    )


def test_truncated_layer_is_refused(store: SnapshotStore, tmp_path: Path) -> None:
    data = gzip.compress(RICH_LAYER)[:200]
    with pytest.raises(errors.InvalidArgument, match="invalid layer"):
        store.apply_layer(None, blob(tmp_path, data), "tar+gzip")
    assert list((store.root / "layers").iterdir()) == []


def run_in_mount_namespace(script: str) -> str:
    """Run a shell script in a private mount namespace: its mounts vanish with it."""
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-euc", script],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_prepared_overlay_mounts_with_whiteouts_applied(
    store: SnapshotStore, tmp_path: Path
) -> None:
    base, _, _ = store.apply_layer(None, blob(tmp_path, RICH_LAYER), "tar")
    upper_layer = make_tar(
        entry("bin/.wh.owned"),
        entry("dev/", tarfile.DIRTYPE),
        entry("dev/.wh..wh..opq"),
        (entry("dev/new"), b"n"),
    )
    top, _, _ = store.apply_layer(base, blob(tmp_path, upper_layer, "upper"), "tar")
    mounts = store.prepare("c1", top)
    assert len(mounts) == 1 and mounts[0].type == "overlay"
    options = ",".join(mounts[0].options)
    lowerdir = mounts[0].options[0].removeprefix("lowerdir=").split(":")
    assert all(Path(p).parent == store.root / "l" for p in lowerdir)
    assert [os.path.realpath(p) for p in lowerdir] == [
        str(diff_path(store, top)),
        str(diff_path(store, base)),
    ]
    merged = tmp_path / "merged"
    merged.mkdir()
    out = run_in_mount_namespace(
        f"mount -t overlay overlay -o {options} {merged}\n"
        f"ls -A {merged}/bin; echo --; ls -A {merged}/dev; echo --\n"
        f"echo written > {merged}/bin/new-file; rm {merged}/bin/su\n"
    )
    bin_listing, dev_listing, _ = out.split("--\n")
    assert bin_listing.split() == ["hard", "su"]
    assert dev_listing.split() == ["new"]
    upper = store.root / "containers/c1/upper"
    assert (upper / "bin/new-file").read_text() == "written\n"
    assert stat.S_ISCHR(os.lstat(upper / "bin/su").st_mode)  # the deletion is a whiteout
    assert (diff_path(store, base) / "bin/su").exists()  # the layer itself is untouched

    with pytest.raises(errors.Conflict):
        store.remove_layer(top)
    store.remove("c1")
    with pytest.raises(errors.Conflict, match="parent"):
        store.remove_layer(base)
    store.remove_layer(top)
    store.remove_layer(base)
    assert store.layers() == []
    assert list((store.root / "l").iterdir()) == []


def test_empty_image_gets_a_bind_of_its_upper(store: SnapshotStore) -> None:
    mounts = store.prepare("empty", None)
    assert [m.type for m in mounts] == ["bind"]
    assert mounts[0].source == str(store.root / "containers/empty/upper")
    assert mounts[0].to_dict()["options"] == ["rbind", "rw"]


def test_store_reopens_with_its_layers(store: SnapshotStore, tmp_path: Path) -> None:
    chain, _, size = store.apply_layer(None, blob(tmp_path, RICH_LAYER), "tar")
    reopened = SnapshotStore(store.root)
    assert reopened.layers() == [chain]
    assert reopened.layer_size(chain) == size


def test_a_containers_changes_export_as_a_layer_and_apply_back(
    store: SnapshotStore, tmp_path: Path
) -> None:
    base, _, _ = store.apply_layer(None, blob(tmp_path, RICH_LAYER), "tar")
    merged = tmp_path / "merged"
    merged.mkdir()
    options = ",".join(store.prepare("c2", base)[0].options)
    run_in_mount_namespace(
        f"mount -t overlay overlay -o {options} {merged}\n"
        f"cd {merged}\n"
        "rm bin/owned\n"  # a whiteout
        "rm -r dev && mkdir dev && echo fresh > dev/only\n"  # an opaque directory
        "echo new > bin/new && ln bin/new bin/new-link\n"
        "chown 123:456 bin/new && chmod 4711 bin/new\n"
        "ln -s /nowhere dangling\n"
    )
    os.setxattr(store.root / "containers/c2/upper/bin/new", "user.tag", b"v1")
    exported = io.BytesIO()
    store.diff("c2", exported)
    with tarfile.open(fileobj=io.BytesIO(exported.getvalue())) as tar:
        entries = {m.name: m for m in tar.getmembers()}
    assert "bin/.wh.owned" in entries
    assert "dev/.wh..wh..opq" in entries and "dev/only" in entries
    assert entries["bin/new"].mode == 0o4711
    assert (entries["bin/new"].uid, entries["bin/new"].gid) == (123, 456)
    assert entries["bin/new-link"].islnk() and entries["bin/new-link"].linkname == "bin/new"
    assert entries["dangling"].issym() and entries["dangling"].linkname == "/nowhere"
    assert entries["bin/new"].pax_headers["SCHILY.xattr.user.tag"] == "v1"
    assert not any("overlay" in key for m in entries.values() for key in m.pax_headers)

    top, _, _ = store.apply_layer(base, blob(tmp_path, exported.getvalue(), "diff"), "tar")
    root = diff_path(store, top)
    assert os.lstat(root / "bin/owned").st_rdev == os.makedev(0, 0)
    assert stat.S_ISCHR(os.lstat(root / "bin/owned").st_mode)
    assert os.getxattr(root / "dev", "trusted.overlay.opaque") == b"y"
    assert os.lstat(root / "bin/new").st_ino == os.lstat(root / "bin/new-link").st_ino
    assert stat.S_IMODE(os.lstat(root / "bin/new").st_mode) == 0o4711
    assert os.getxattr(root / "bin/new", "user.tag") == b"v1"
    store.remove("c2")


# Sizes around tarfile's 512-byte blocks and its 64 KiB stream buffer, and past the
# 1 MiB copy chunk: a member's data is read from under tarfile's stream reader.
FILE_SIZES = [0, 1, 511, 512, 513, 65_535, 65_536, 65_537, 200_003, (3 << 20) + 7]


@pytest.mark.parametrize("compression", ["plain", "gzip"])
def test_files_of_every_size_unpack_byte_for_byte(
    store: SnapshotStore, tmp_path: Path, compression: str
) -> None:
    contents = {f"f{size}": os.urandom(size) for size in FILE_SIZES}
    # Interleaved with entries without data, so headers follow data at every offset.
    members: list[tuple[tarfile.TarInfo, bytes | None] | tarfile.TarInfo] = []
    for name, data in contents.items():
        members += [(entry(name), data), entry(f"{name}.link", tarfile.SYMTYPE, linkname=name)]
    tar = make_tar(*members)
    data = gzip.compress(tar) if compression == "gzip" else tar
    chain, diff_id, size = store.apply_layer(None, blob(tmp_path, data), "tar")
    assert diff_id == f"sha256:{hashlib.sha256(tar).hexdigest()}"
    assert size == sum(FILE_SIZES)
    for name, expected in contents.items():
        assert (diff_path(store, chain) / name).read_bytes() == expected
        assert os.readlink(diff_path(store, chain) / f"{name}.link") == name


def test_a_layer_cut_inside_a_file_is_refused_and_leaves_nothing(
    store: SnapshotStore, tmp_path: Path
) -> None:
    tar = make_tar((entry("big"), os.urandom(1 << 20)), (entry("after"), b"x"))
    with pytest.raises(errors.InvalidArgument, match="unexpected end of data"):
        store.apply_layer(None, blob(tmp_path, tar[: 600_000]), "tar")
    assert store.layers() == []
    assert list((store.root / "layers").iterdir()) == []
