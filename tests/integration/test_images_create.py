"""Images made here: docker import of a rootfs tar, and commit of a container's changes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ketch.content import ContentStore
from ketch.images import ImageService
from ketch.oci import mediatypes
from ketch.registry import RegistryConfig
from ketch.snapshots import SnapshotStore
from ketch.testing import images
from ketch.testing.registry import run_registry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def make_service(root: Path) -> ImageService:
    return ImageService(
        root / "images",
        ContentStore(root / "content"),
        SnapshotStore(root / "snapshots"),
        RegistryConfig(),
    )


def imported_busybox(service: ImageService, tmp_path: Path) -> object:
    rootfs = tmp_path / "rootfs.tar.gz"
    rootfs.write_bytes(images.busybox().layers[0])
    return asyncio.run(
        service.import_rootfs(rootfs, "imported", "1", {"Cmd": ["sh"]}, "from a test")
    )


def test_import_makes_a_one_layer_image(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    image = imported_busybox(service, tmp_path)
    assert image.repo_tags == ["imported:1"]
    assert image.diff_ids == images.busybox().diff_ids
    assert image.config["config"] == {"Cmd": ["sh"]}
    assert image.config["history"][0]["comment"] == "from a test"
    assert image.config["os"] == "linux"
    assert image.layers[0]["mediaType"] == mediatypes.OCI_LAYER_GZIP
    assert (service.snapshots.layer_path(image.chain_id) / "bin/busybox").is_file()
    assert service.get("imported:1").id == image.id


def test_commit_of_a_snapshot_stacks_a_layer_on_its_image(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    base = imported_busybox(service, tmp_path)
    service.snapshots.prepare("ctr", base.chain_id)
    upper = service.snapshots.root / "containers/ctr/upper"
    (upper / "etc").mkdir()
    (upper / "etc/motd").write_text("committed\n")
    changes = tmp_path / "changes.tar"
    with open(changes, "wb") as out:
        service.snapshots.diff("ctr", out)
    config = {**base.config, "config": {"Cmd": ["cat", "/etc/motd"]}}
    config.pop("created")
    committed = asyncio.run(service.create_image(config, [changes], base, ["committed:v1"]))
    assert committed.diff_ids[:1] == base.diff_ids and len(committed.diff_ids) == 2
    assert committed.layers[0] == base.layers[0]
    assert committed.layers[1]["mediaType"] == mediatypes.OCI_LAYER_TAR
    motd = service.snapshots.layer_path(committed.chain_id) / "etc/motd"
    assert motd.read_text() == "committed\n"
    assert committed.size == base.size + len("committed\n")
    assert len(service.snapshots.layers()) == 2

    # It pushes, and another store pulls the very same image.
    with run_registry(tmp_path / "registry") as registry:
        target = f"{registry.host_port}/committed"
        service.tag(committed.id, target, "v1")
        asyncio.run(service.push(target, "v1", lambda m: None))
        other = make_service(tmp_path / "other")
        pulled = asyncio.run(other.pull(f"{target}:v1", lambda m: None))
    assert pulled.id == committed.id
    assert (other.snapshots.layer_path(pulled.chain_id) / "etc/motd").read_text() == "committed\n"
