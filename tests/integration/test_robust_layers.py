"""Corrupt and malicious layers served by a real registry, pulled through a real ketchd:
the pull fails naming the problem, nothing outside the layer directory changes, and
nothing of the bad image is left stored."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import pytest

from ketch.oci import mediatypes
from ketch.oci.digest import sha256_digest
from ketch.testing import images
from ketch.testing.daemon import Daemon
from ketch.testing.images import Entry, file, symlink
from ketch.testing.registry import RegistryServer, run_registry

pytestmark = pytest.mark.integration

SENTINEL_TEXT = "untouched\n"


def image_of(repo: str, entries: list[Entry]) -> images.TestImage:
    return images.make_image(repo, "latest", [images.layer_tar(entries)], {"Cmd": ["/x"]}, [repo])


def truncated_gzip() -> images.TestImage:
    """A layer whose gzip stream stops halfway; its blob digest is of what is served."""
    tar = images.layer_tar([file("data", os.urandom(256 * 1024))])
    whole = images.gzip_layer(tar)
    cut = whole[: len(whole) // 2]
    config = {
        "architecture": images.host_platform()["architecture"], "os": "linux",
        "config": {"Cmd": ["/x"]}, "history": [{"created_by": "truncated"}],
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
    }  # fmt: skip
    raw = images.canonical_json(config)
    manifest = images.build_manifest(raw, [cut], mediatypes.DOCKER_MANIFEST)
    return images.TestImage("truncated", "latest", config, [cut], manifest)


def wrong_diff_id_base() -> images.TestImage:
    return image_of("shared", [file("data", b"good bytes\n" * 50_000)])


def wrong_diff_id() -> images.TestImage:
    """A good layer whose config names another DiffID."""
    good = wrong_diff_id_base()
    config = {**good.config, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}}
    raw = images.canonical_json(config)
    manifest = images.build_manifest(raw, good.layers, mediatypes.DOCKER_MANIFEST)
    return images.TestImage("wrong-diff-id", "latest", config, good.layers, manifest)


def tampered_image() -> images.TestImage:
    return image_of("tampered", [file("data", b"the pushed bytes\n" * 64)])


def bad_images(outside: Path) -> dict[str, images.TestImage]:
    up = "../" * 12
    return {
        "dotdot": image_of("dotdot", [file(f"{up}{outside.relative_to('/')}/escaped", b"bad")]),
        "symlink-abs": image_of(
            "symlink-abs", [symlink("evil", str(outside)), file("evil/owned", b"bad")]
        ),
        "symlink-rel": image_of(
            "symlink-rel",
            [symlink("evil", f"{up}{outside.relative_to('/')}"), file("evil/sentinel", b"bad")],
        ),
        "hardlink-passwd": image_of(
            "hardlink-passwd", [Entry("passwd", "hardlink", target="/etc/passwd")]
        ),
        "hardlink-up": image_of(
            "hardlink-up", [Entry("passwd", "hardlink", target=f"{up}etc/passwd")]
        ),
        "truncated-gzip": truncated_gzip(),
        "wrong-diff-id": wrong_diff_id(),
    }


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the daemon's roots that the bad layers aim at."""
    target = tmp_path_factory.mktemp("outside")
    (target / "sentinel").write_text(SENTINEL_TEXT)
    return target


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, outside: Path) -> Iterator[RegistryServer]:
    with run_registry(tmp_path_factory.mktemp("bad-registry")) as server:
        for name, image in bad_images(outside).items():
            images.push_sync(image, server.url, repo=f"bad/{name}", tag="latest")
        # The good image whose layer wrong-diff-id shares.
        good = wrong_diff_id_base()
        images.push_sync(good, server.url, repo="good/shared", tag="latest")
        # A layer whose bytes changed in the registry's storage after the push: same
        # size, another digest.
        tampered = tampered_image()
        images.push_sync(tampered, server.url, repo="bad/tampered", tag="latest")
        blob = server.blob_data_path("bad/tampered", tampered.layer_digests[0])
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))
        yield server


@pytest.fixture
def api(ketchd: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=ketchd.url, version="1.45", timeout=60)
    try:
        yield client
    finally:
        client.close()


def snapshot_of_host(outside: Path) -> dict[str, Any]:
    passwd = Path("/etc/passwd")
    stat = passwd.stat()
    return {
        "outside": sorted(p.name for p in outside.iterdir()),
        "sentinel": (outside / "sentinel").read_text(),
        "passwd": (hashlib.sha256(passwd.read_bytes()).hexdigest(), stat.st_nlink,
                   stat.st_mtime_ns, stat.st_mode),
    }  # fmt: skip


def stored(daemon: Daemon) -> dict[str, set[str]]:
    return {
        "blobs": {p.name for p in (daemon.data_root / "content/blobs/sha256").iterdir()},
        "layers": {p.name for p in (daemon.data_root / "snapshots/layers").iterdir()},
        "ingest": {p.name for p in (daemon.data_root / "content/ingest").iterdir()},
    }


EXPECTED = {
    "dotdot": "invalid layer entry '..': path escapes the layer",
    "symlink-abs": "invalid layer entry 'evil/owned': parent 'evil' is a symlink or not a "
    "directory",
    "symlink-rel": "invalid layer entry 'evil/sentinel': parent 'evil' is a symlink or not a "
    "directory",
    "hardlink-passwd": "invalid layer entry 'passwd': hard link target '/etc/passwd' outside "
    "the layer",
    "hardlink-up": f"invalid layer entry 'passwd': hard link target '{'../' * 12}etc/passwd' "
    "outside the layer",
    "truncated-gzip": "invalid layer: Compressed file ended before the end-of-stream marker "
    "was reached",
    "wrong-diff-id": f"diff id mismatch: expected sha256:{'1' * 64}, got sha256:",
    "tampered": f"digest mismatch: expected {tampered_image().layer_digests[0]}, got sha256:",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_bad_layer_fails_the_pull_and_leaves_nothing(
    ketchd: Daemon,
    api: docker.APIClient,
    registry: RegistryServer,
    outside: Path,
    name: str,
) -> None:
    host_before = snapshot_of_host(outside)
    store_before = stored(ketchd)
    repository = f"{registry.host_port}/bad/{name}"
    messages = list(api.pull(repository, tag="latest", stream=True, decode=True))
    error = messages[-1].get("error", "")
    assert EXPECTED[name] in error, messages
    assert snapshot_of_host(outside) == host_before
    assert stored(ketchd) == store_before
    assert not [i for i in api.images() if any(repository in t for t in i["RepoTags"] or [])]
    passwd_inode = Path("/etc/passwd").stat().st_ino
    for path in ketchd.data_root.rglob("*"):
        if not path.is_symlink():
            assert (
                path.stat().st_ino != passwd_inode
                or path.stat().st_dev != Path("/etc/passwd").stat().st_dev
            ), path
    assert api.ping() is True


def test_a_bad_pull_does_not_take_a_shared_blob_from_a_good_one(
    ketchd: Daemon, api: docker.APIClient, registry: RegistryServer
) -> None:
    """wrong-diff-id shares its layer blob with good/shared: pulled at the same time,
    the failing pull must not delete the blob under the good one."""
    good = f"{registry.host_port}/good/shared"
    bad = f"{registry.host_port}/bad/wrong-diff-id"
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            results = list(
                pool.map(
                    lambda repo: list(api.pull(repo, tag="latest", stream=True, decode=True)),
                    [bad, good],
                )
            )
        assert "diff id mismatch" in results[0][-1].get("error", ""), results[0]
        assert results[1][-1] == {"status": f"Status: Downloaded newer image for {good}:latest"}
        assert api.inspect_image(f"{good}:latest")["Id"] == wrong_diff_id_base().id
        api.remove_image(f"{good}:latest")
