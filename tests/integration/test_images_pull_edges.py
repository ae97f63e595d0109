"""Pulls that are not the happy path: indexes, concurrency, bad layers, lying configs."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ketch import errors
from ketch.content import ContentStore
from ketch.images import ImageService
from ketch.oci import mediatypes
from ketch.oci.digest import sha256_digest
from ketch.registry import RegistryConfig
from ketch.snapshots import SnapshotStore
from ketch.testing import images
from ketch.testing.registry import RegistryServer, run_registry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def escaping_image() -> images.TestImage:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    return images.make_image("evil", "latest", [out.getvalue()], {"Cmd": ["/x"]}, ["evil"])


def lying_image() -> images.TestImage:
    """hello-world whose config names a DiffID its layer does not have."""
    good = images.hello_world()
    config = {**good.config, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}
    manifest = images.build_manifest(
        images.canonical_json(config), good.layers, mediatypes.DOCKER_MANIFEST
    )
    return images.TestImage("liar", "latest", config, good.layers, manifest)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with run_registry(tmp_path_factory.mktemp("registry")) as server:
        multi = [images.hello_world(), images.for_platform(images.hello_world(), "riscv64")]
        asyncio.run(images.push_index(multi, server.url, "multi", "latest"))
        asyncio.run(
            images.push_index(
                [images.for_platform(images.hello_world(), "riscv64")], server.url, "foreign", "1"
            )
        )
        images.push_sync(images.busybox(), server.url)
        images.push_sync(escaping_image(), server.url)
        images.push_sync(lying_image(), server.url)
        yield server


@pytest.fixture
def service(tmp_path: Path) -> ImageService:
    return ImageService(
        tmp_path / "images",
        ContentStore(tmp_path / "content"),
        SnapshotStore(tmp_path / "snapshots"),
        RegistryConfig(),
    )


def pull(service: ImageService, ref: str) -> tuple[Any, list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []
    return asyncio.run(service.pull(ref, messages.append)), messages


def test_index_resolves_to_this_platform_and_records_the_index_digest(
    service: ImageService, registry: RegistryServer
) -> None:
    image, messages = pull(service, f"{registry.host_port}/multi")
    assert image.id == images.hello_world().id
    digest_line = [m["status"] for m in messages if m["status"].startswith("Digest: ")]
    index_digest = digest_line[0].removeprefix("Digest: ")
    assert image.repo_digests == [f"{registry.host_port}/multi@{index_digest}"]
    platform_manifest = images.hello_world().manifest_as(mediatypes.OCI_MANIFEST)
    assert index_digest.startswith("sha256:")
    assert index_digest != sha256_digest(platform_manifest)


def test_index_without_this_platform_is_not_found(
    service: ImageService, registry: RegistryServer
) -> None:
    with pytest.raises(errors.NotFound, match="no matching manifest"):
        pull(service, f"{registry.host_port}/foreign:1")


def test_concurrent_pulls_of_one_image_share_the_work(
    service: ImageService, registry: RegistryServer
) -> None:
    ref = f"{registry.host_port}/busybox"

    async def both() -> list[Any]:
        return await asyncio.gather(
            service.pull(ref, lambda m: None), service.pull(ref, lambda m: None)
        )

    first, second = asyncio.run(both())
    assert first.id == second.id == images.busybox().id
    assert service.snapshots.layers() == [first.chain_id]
    assert len(service.list()) == 1


def test_a_layer_escaping_its_directory_fails_the_pull(
    service: ImageService, registry: RegistryServer, tmp_path: Path
) -> None:
    with pytest.raises(errors.InvalidArgument, match="escaped"):
        pull(service, f"{registry.host_port}/evil")
    assert not (tmp_path / "escaped").exists()
    assert not (tmp_path / "snapshots" / "layers" / "escaped").exists()
    assert service.snapshots.layers() == []
    assert service.list() == []
    with pytest.raises(errors.NotFound):
        service.get(f"{registry.host_port}/evil")


def test_a_config_lying_about_diff_ids_fails_the_pull(
    service: ImageService, registry: RegistryServer
) -> None:
    with pytest.raises(errors.InvalidArgument, match="diff id mismatch"):
        pull(service, f"{registry.host_port}/liar")
    assert service.snapshots.layers() == []
    assert service.list() == []


# -- layers unpacked while they download ----------------------------------------


def leftovers(service: ImageService) -> list[str]:
    """Half-unpacked layers and partial downloads: what a failed pull must not leave."""
    layers = service.snapshots.root / "layers"
    staged = [p.name for p in layers.iterdir() if p.name.startswith(".")]
    ingests = [p.name for p in (service.content.root / "ingest").iterdir()]
    return staged + ingests


def test_a_tampered_layer_fails_the_pull_and_leaves_nothing_unpacked(
    service: ImageService, tmp_path: Path
) -> None:
    busybox = images.busybox()
    digest = busybox.layer_digests[0]
    with run_registry(tmp_path / "tampered") as server:
        images.push_sync(busybox, server.url, repo="tampered/busybox")
        data_path = server.blob_data_path("tampered/busybox", digest)
        altered = bytearray(data_path.read_bytes())
        # Late in the blob: the unpacker has written files by the time the digest fails.
        altered[-100] ^= 0xFF
        data_path.write_bytes(bytes(altered))
        with pytest.raises(errors.InvalidArgument, match=f"digest mismatch: expected {digest}"):
            pull(service, f"{server.host_port}/tampered/busybox")
    assert leftovers(service) == []
    assert service.snapshots.layers() == []
    assert not service.content.has(digest)
    assert service.list() == []


def test_a_layer_whose_blob_is_already_stored_is_unpacked_from_the_store(
    service: ImageService, registry: RegistryServer
) -> None:
    busybox = images.busybox()
    service.content.put_bytes(busybox.layers[0])  # as a load or an earlier pull left it
    image, messages = pull(service, f"{registry.host_port}/busybox")
    assert image.id == busybox.id
    assert service.snapshots.has_layer(image.chain_id)
    assert "Extracting" in [m["status"] for m in messages]
    assert (service.snapshots.layer_path(image.chain_id) / "bin" / "busybox").is_file()
    assert leftovers(service) == []


def test_a_resumed_download_is_unpacked_from_its_first_byte(
    service: ImageService, registry: RegistryServer
) -> None:
    busybox = images.busybox()
    layer = busybox.layers[0]
    with service.content.writer(busybox.layer_digests[0], len(layer)) as partial:
        partial.write(layer[: len(layer) // 2])  # an earlier pull cut halfway
    image, _ = pull(service, f"{registry.host_port}/busybox")
    assert image.id == busybox.id
    # The DiffID was checked against the config: the tar read was the whole layer.
    assert service.snapshots.layer(image.chain_id).diff_id == busybox.diff_ids[0]
    assert (service.snapshots.layer_path(image.chain_id) / "bin" / "busybox").is_file()
    assert leftovers(service) == []


def test_many_layers_pulled_at_once_do_not_starve_each_other(
    service: ImageService, tmp_path: Path
) -> None:
    # More layers unpacking at once than the event loop's default pool has threads:
    # each waits for its blob's commit, which must still find a thread to run on.
    built = [
        images.make_image(
            f"many/image{n}", "latest",
            [images.layer_tar([images.file(f"n{n}/l{i}", os.urandom(50_000))]) for i in range(3)],
            {"Cmd": ["/x"]}, [f"layer {i}" for i in range(3)],
        )
        for n in range(3)
    ]  # fmt: skip
    pulled: list[Any] = []
    with run_registry(tmp_path / "many") as server:
        for image in built:
            images.push_sync(image, server.url, repo=image.repo)

        def all_at_once() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            # A small pool, as on a small host; a deadlock leaves this thread hanging.
            loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
            pulls = [service.pull(f"{server.host_port}/{i.repo}", lambda m: None) for i in built]
            pulled.extend(loop.run_until_complete(asyncio.gather(*pulls)))
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

        runner = threading.Thread(target=all_at_once, daemon=True)
        runner.start()
        runner.join(timeout=120)
        assert not runner.is_alive(), "the pulls wait on each other"
    assert [p.id for p in pulled] == [i.id for i in built]
    assert leftovers(service) == []
