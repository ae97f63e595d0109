"""docker save / docker load archives, round-tripped through real stores and a registry."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
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


def app_image() -> images.TestImage:
    return images.extend(
        images.busybox(), "app", "v1", [images.file("app/run", b"echo hi\n", 0o755)]
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with run_registry(tmp_path_factory.mktemp("registry")) as server:
        images.push_sync(images.busybox(), server.url)
        images.push_sync(app_image(), server.url)
        yield server


def make_service(root: Path) -> ImageService:
    return ImageService(
        root / "images",
        ContentStore(root / "content"),
        SnapshotStore(root / "snapshots"),
        RegistryConfig(),
    )


def pull(service: ImageService, ref: str) -> Any:
    return asyncio.run(service.pull(ref, lambda m: None))


def save(service: ImageService, names: list[str], target: Path) -> Path:
    with open(target, "wb") as out:
        asyncio.run(service.save(names, out))
    return target


def load(service: ImageService, archive: Path) -> tuple[list[str], list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []
    return asyncio.run(service.load(archive, messages.append)), messages


def test_save_writes_docker_and_oci_layouts(
    tmp_path: Path,
    registry: RegistryServer,
    image_spec_validator: Callable[[str], jsonschema.Draft4Validator],
) -> None:
    service = make_service(tmp_path / "a")
    app = pull(service, f"{registry.host_port}/app:v1")
    archive = save(service, [f"{registry.host_port}/app:v1"], tmp_path / "app.tar")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())

        def read_json(name: str) -> Any:
            return json.load(tar.extractfile(name))  # type: ignore[arg-type]

        manifest = read_json("manifest.json")
        index = read_json("index.json")
        layers = [tar.extractfile(name).read() for name in manifest[0]["Layers"]]  # type: ignore[union-attr]
        # The OCI side is what the image-spec says it is, blob by blob.
        image_spec_validator("image-layout-schema.json").validate(read_json("oci-layout"))
        image_spec_validator("image-index-schema.json").validate(index)
        oci_manifest = read_json(f"blobs/sha256/{index['manifests'][0]['digest'].split(':')[1]}")
        image_spec_validator("image-manifest-schema.json").validate(oci_manifest)
        config = read_json(f"blobs/sha256/{oci_manifest['config']['digest'].split(':')[1]}")
        image_spec_validator("config-schema.json").validate(config)
    assert [layer["digest"] for layer in oci_manifest["layers"]] == app.diff_ids
    assert {"oci-layout", "repositories", "index.json", "manifest.json"} <= names
    assert manifest[0]["RepoTags"] == [f"{registry.host_port}/app:v1"]
    assert manifest[0]["Config"] == f"blobs/sha256/{app.id.split(':')[1]}"
    # Layers are uncompressed tars named by their DiffIDs.
    assert ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers] == app.diff_ids
    annotations = index["manifests"][0]["annotations"]
    assert annotations["io.containerd.image.name"] == f"{registry.host_port}/app:v1"
    assert annotations["org.opencontainers.image.ref.name"] == "v1"


def test_load_restores_images_tags_and_layers(tmp_path: Path, registry: RegistryServer) -> None:
    source = make_service(tmp_path / "a")
    busybox = pull(source, f"{registry.host_port}/busybox")
    app = pull(source, f"{registry.host_port}/app:v1")
    source.tag(busybox.id, "extra", "1")
    archive = save(source, [f"{registry.host_port}/app:v1", "extra"], tmp_path / "two.tar")

    target = make_service(tmp_path / "b")
    loaded, messages = load(target, archive)
    assert sorted(loaded) == sorted([app.id, busybox.id])
    assert {"stream": f"Loaded image: {registry.host_port}/app:v1\n"} in messages
    assert {"stream": "Loaded image: extra:1\n"} in messages
    assert target.get("extra:1").id == busybox.id
    restored = target.get(f"{registry.host_port}/app:v1")
    assert restored.chain_id == app.chain_id
    assert restored.size == app.size
    run = target.snapshots.layer_path(restored.chain_id) / "app/run"
    assert run.read_bytes() == b"echo hi\n" and os.stat(run).st_mode & 0o777 == 0o755
    assert len(target.snapshots.layers()) == 2  # the busybox layer is shared, unpacked once

    # A loaded image pushes (as OCI, its layers now uncompressed) and pulls back the same.
    target.tag(app.id, f"{registry.host_port}/loaded/app", "1")
    asyncio.run(target.push(f"{registry.host_port}/loaded/app", "1", lambda m: None))
    third = make_service(tmp_path / "c")
    assert pull(third, f"{registry.host_port}/loaded/app:1").id == app.id


def test_saving_a_repository_saves_all_its_tags(tmp_path: Path, registry: RegistryServer) -> None:
    service = make_service(tmp_path / "a")
    busybox = pull(service, f"{registry.host_port}/busybox")
    service.tag(busybox.id, "many", "1")
    service.tag(busybox.id, "many", "2")
    archive = save(service, ["many"], tmp_path / "many.tar")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest == [
        {
            "Config": f"blobs/sha256/{busybox.id.split(':')[1]}",
            "RepoTags": ["many:1", "many:2"],
            "Layers": [f"blobs/sha256/{busybox.diff_ids[0].split(':')[1]}"],
        }
    ]


def oci_layout_archive(image: images.TestImage, name: str) -> bytes:
    """An OCI image layout with gzip layers, as skopeo or buildkit write one."""
    manifest = image.manifest_as(mediatypes.OCI_MANIFEST)
    blobs = {sha256_digest(b): b for b in [*image.layers, image.config_bytes, manifest]}
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": mediatypes.OCI_MANIFEST,
                "digest": sha256_digest(manifest),
                "size": len(manifest),
                "annotations": {"io.containerd.image.name": name},
            }
        ],
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        files = {
            "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
            "index.json": json.dumps(index).encode(),
        }
        files.update({f"blobs/sha256/{d.split(':')[1]}": b for d, b in blobs.items()})
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_load_reads_an_oci_layout_with_gzip_layers(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    archive = tmp_path / "oci.tar"
    archive.write_bytes(oci_layout_archive(images.hello_world(), "docker.io/library/hello:oci"))
    loaded, messages = load(service, archive)
    assert loaded == [images.hello_world().id]
    assert messages == [{"stream": "Loaded image: hello:oci\n"}]
    image = service.get("hello:oci")
    hello = service.snapshots.layer_path(image.chain_id) / "hello"
    assert hello.read_bytes().endswith(images.HELLO_MESSAGE.encode())
    assert image.layers[0]["mediaType"] == mediatypes.OCI_LAYER_GZIP


def test_load_refuses_what_is_not_an_archive(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(gzip.compress(b"not a tar at all" * 100))
    with pytest.raises(errors.InvalidArgument, match="invalid archive"):
        load(service, junk)
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(errors.InvalidArgument, match="neither manifest.json nor index.json"):
        load(service, empty)
    assert service.list() == []


def test_pulling_a_loaded_image_keeps_describing_stored_blobs(
    tmp_path: Path, registry: RegistryServer
) -> None:
    source = make_service(tmp_path / "a")
    busybox = pull(source, f"{registry.host_port}/busybox")
    archive = save(source, [busybox.id], tmp_path / "busybox.tar")
    target = make_service(tmp_path / "b")
    load(target, archive)
    again = pull(target, f"{registry.host_port}/busybox")  # same image, gzip blobs not fetched
    assert again.id == busybox.id
    assert all(target.content.has(layer["digest"]) for layer in again.layers)
    assert again.layers[0]["mediaType"] == mediatypes.OCI_LAYER_TAR
    target.tag(busybox.id, f"{registry.host_port}/reloaded", "1")
    asyncio.run(target.push(f"{registry.host_port}/reloaded", "1", lambda m: None))
