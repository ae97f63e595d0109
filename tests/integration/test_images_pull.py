"""ImageService against a real registry: pull, progress, sharing, restart, rmi."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch import errors
from ketch.content import ContentStore
from ketch.images import ImageService
from ketch.oci import mediatypes, reference
from ketch.registry import RegistryConfig
from ketch.snapshots import SnapshotStore, chain_ids
from ketch.testing import images
from ketch.testing.registry import RegistryServer, run_registry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """One registry for the module, seeded once with the test images."""
    with run_registry(tmp_path_factory.mktemp("registry")) as server:
        images.push_sync(images.hello_world(), server.url)
        images.push_sync(images.busybox(), server.url)
        images.push_sync(app_image(), server.url)
        images.push_sync(images.busybox(), server.url, "oci/busybox", "1", mediatypes.OCI_MANIFEST)
        yield server


def app_image() -> images.TestImage:
    """busybox plus one layer: shares busybox's layer byte for byte."""
    return images.extend(
        images.busybox(), "app", "v1", [images.file("app/run", b"echo hi\n", 0o755)]
    )


def make_service(root: Path) -> ImageService:
    return ImageService(
        root / "images",
        ContentStore(root / "content"),
        SnapshotStore(root / "snapshots"),
        RegistryConfig(),
    )


@pytest.fixture
def service(tmp_path: Path) -> ImageService:
    return make_service(tmp_path)


def pull(service: ImageService, ref: str) -> tuple[Any, list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []
    image = asyncio.run(service.pull(ref, messages.append))
    return image, messages


def statuses(messages: list[dict[str, Any]]) -> list[str]:
    return [m["status"] for m in messages]


def test_pull_reports_dockers_progress_and_stores_the_image(
    service: ImageService, registry: RegistryServer
) -> None:
    ref = f"{registry.host_port}/hello-world"
    image, messages = pull(service, ref)
    expected = images.hello_world()
    assert image.id == expected.id
    assert image.repo_tags == [f"{ref}:latest"]
    assert image.repo_digests == [f"{ref}@{expected.manifest_digest}"]
    layer_id = expected.layer_digests[0].split(":")[1][:12]
    assert messages[0] == {"status": "Pulling from hello-world", "id": "latest"}
    assert messages[1] == {"status": "Pulling fs layer", "progressDetail": {}, "id": layer_id}
    downloading = [m for m in messages if m["status"] == "Downloading"]
    assert downloading and downloading[-1]["progressDetail"] == {
        "current": len(expected.layers[0]),
        "total": len(expected.layers[0]),
    }
    assert downloading[-1]["progress"].startswith("[" + "=" * 50 + ">] ")
    order = [s for s in statuses(messages) if s not in ("Downloading", "Extracting")]
    assert order == [
        "Pulling from hello-world",
        "Pulling fs layer",
        "Verifying Checksum",
        "Download complete",
        "Pull complete",
        f"Digest: {expected.manifest_digest}",
        f"Status: Downloaded newer image for {ref}:latest",
    ]
    assert "Extracting" in statuses(messages)
    assert image.config["config"]["Cmd"] == ["/hello"]
    assert service.snapshots.has_layer(image.chain_id)


def test_pulling_again_is_up_to_date_without_layer_lines(
    service: ImageService, registry: RegistryServer
) -> None:
    ref = f"{registry.host_port}/hello-world:latest"
    pull(service, ref)
    _, again = pull(service, ref)
    assert statuses(again) == [
        "Pulling from hello-world",
        f"Digest: {images.hello_world().manifest_digest}",
        f"Status: Image is up to date for {ref}",
    ]


def test_shared_layers_are_unpacked_once(service: ImageService, registry: RegistryServer) -> None:
    busybox, _ = pull(service, f"{registry.host_port}/busybox")
    app, messages = pull(service, f"{registry.host_port}/app:v1")
    shared = images.busybox().layer_digests[0].split(":")[1][:12]
    assert {"status": "Already exists", "progressDetail": {}, "id": shared} in messages
    assert [m for m in messages if m.get("id") == shared and m["status"] != "Already exists"] == []
    assert chain_ids(app.diff_ids)[0] == busybox.chain_id
    assert len(service.snapshots.layers()) == 2
    assert app.size > busybox.size


def test_oci_manifests_pull_too(service: ImageService, registry: RegistryServer) -> None:
    image, _ = pull(service, f"{registry.host_port}/oci/busybox:1")
    assert image.id == images.busybox().id
    assert service.get(f"{registry.host_port}/oci/busybox:1").id == image.id


def test_lookup_by_name_id_prefix_and_digest(
    service: ImageService, registry: RegistryServer
) -> None:
    image, _ = pull(service, f"{registry.host_port}/hello-world")
    hex_id = image.id.split(":")[1]
    for name in (
        f"{registry.host_port}/hello-world",
        f"{registry.host_port}/hello-world:latest",
        image.repo_digests[0],
        image.repo_digests[0].replace("@", ":whatever@"),
        image.id,
        hex_id,
        hex_id[:12],
        f"sha256:{hex_id[:12]}",
    ):
        assert service.get(name).id == image.id, name
    with pytest.raises(errors.NotFound, match="No such image: nothing:here"):
        service.get("nothing:here")
    with pytest.raises(errors.NotFound):
        service.get("0" * 12)


def test_tags_survive_a_restart(tmp_path: Path, registry: RegistryServer) -> None:
    first = make_service(tmp_path)
    image, _ = pull(first, f"{registry.host_port}/busybox")
    first.tag(image.id, "mine/box", "v2")
    on_disk = json.loads((tmp_path / "images/repositories.json").read_text())
    assert on_disk["Repositories"]["mine/box"] == {"mine/box:v2": image.id}
    again = make_service(tmp_path)
    found = again.get("mine/box:v2")
    assert found.id == image.id
    assert sorted(found.repo_tags) == sorted(
        [f"{registry.host_port}/busybox:latest", "mine/box:v2"]
    )
    assert again.inspect("mine/box:v2")["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"


def test_rmi_untags_then_frees_only_what_nothing_else_uses(
    service: ImageService, registry: RegistryServer
) -> None:
    busybox, _ = pull(service, f"{registry.host_port}/busybox")
    app, _ = pull(service, f"{registry.host_port}/app:v1")
    service.tag(app.id, "other", "tag")
    assert service.remove("other:tag") == [{"Untagged": "other:tag"}]
    assert service.get(app.id).id == app.id

    removed = service.remove(f"{registry.host_port}/app:v1")
    assert removed[0] == {"Untagged": f"{registry.host_port}/app:v1"}
    assert {"Untagged": f"{registry.host_port}/app@{app_image().manifest_digest}"} in removed
    assert {"Deleted": app.id} in removed
    assert {"Deleted": app.chain_id} in removed
    # busybox's layer is shared: it stays, and so do its blobs.
    assert service.snapshots.layers() == [busybox.chain_id]
    assert service.content.has(images.busybox().layer_digests[0])
    assert not service.content.has(app_image().layer_digests[1])
    assert not service.content.has(app.id)
    with pytest.raises(errors.NotFound):
        service.get(app.id)

    service.remove(busybox.id)
    assert service.snapshots.layers() == []
    assert list(service.content.digests()) == []
    assert service.list() == []


def test_rmi_refuses_while_a_container_uses_the_image(
    service: ImageService, registry: RegistryServer
) -> None:
    image, _ = pull(service, f"{registry.host_port}/hello-world")
    container = "c0ffee" * 10 + "abcd"
    service.image_in_use = lambda image_id: container if image_id == image.id else None
    name = f"{registry.host_port}/hello-world"
    with pytest.raises(errors.Conflict) as caught:
        service.remove(name)
    assert caught.value.message == (
        f'conflict: unable to remove repository reference "{name}" (must force) - container '
        f"{container[:12]} is using its referenced image {image.id[7:19]}"
    )
    with pytest.raises(errors.Conflict, match="must be forced"):
        service.remove(image.id)
    service.image_running = lambda image_id: container if image_id == image.id else None
    with pytest.raises(errors.Conflict, match="cannot be forced"):
        service.remove(image.id, force=True)
    service.image_running = None
    removed = service.remove(name, force=True)
    assert {"Deleted": image.id} in removed


def test_history_and_inspect_shapes(service: ImageService, registry: RegistryServer) -> None:
    pull(service, f"{registry.host_port}/busybox")
    app, _ = pull(service, f"{registry.host_port}/app:v1")
    history = service.history(app.id)
    assert [row["Id"] for row in history] == [app.id, "<missing>"]
    assert history[0]["Tags"] == [f"{registry.host_port}/app:v1"]
    assert history[0]["Size"] == len(b"echo hi\n")
    inspected = service.inspect(f"{registry.host_port}/app:v1")
    assert inspected["Id"] == app.id
    assert inspected["RootFS"] == {"Type": "layers", "Layers": app.diff_ids}
    assert inspected["Config"]["Cmd"] == ["sh"]
    assert inspected["Config"]["Entrypoint"] is None
    assert inspected["Size"] == app.size
    assert inspected["Os"] == "linux"


def test_pull_of_a_missing_tag_is_not_found(
    service: ImageService, registry: RegistryServer
) -> None:
    with pytest.raises(errors.NotFound, match="not found"):
        pull(service, f"{registry.host_port}/hello-world:nope")
    assert service.list() == []


def test_push_sends_the_pulled_image_to_another_repository(
    service: ImageService, registry: RegistryServer
) -> None:
    image, _ = pull(service, f"{registry.host_port}/app:v1")
    target = f"{registry.host_port}/copies/app"
    service.tag(image.id, target, "pushed")
    messages: list[dict[str, Any]] = []
    digests = asyncio.run(service.push(target, "pushed", messages.append))
    assert digests == [app_image().manifest_digest]  # byte for byte the pulled manifest
    assert messages[0] == {"status": f"The push refers to repository [{target}]"}
    top, base = (d.split(":")[1][:12] for d in reversed(app_image().diff_ids))
    preparing = [m["id"] for m in messages if m.get("status") == "Preparing"]
    assert preparing == [top, base]
    # The registry already holds the blobs in the repository pulled from: as dockerd,
    # they are mounted from there, not uploaded again.
    mounted = [m["id"] for m in messages if m.get("status") == "Mounted from app"]
    assert sorted(mounted) == sorted([top, base])
    size = len(app_image().manifest_bytes)
    assert messages[-2] == {"status": f"pushed: digest: {digests[0]} size: {size}"}
    assert messages[-1]["aux"] == {"Tag": "pushed", "Digest": digests[0], "Size": size}
    assert f"{target}@{digests[0]}" in service.get(image.id).repo_digests

    # A fresh store pulls what was pushed, and it is the same image.
    other = make_service(Path(service.root).parent / "second")
    pulled, _ = pull(other, f"{target}:pushed")
    assert pulled.id == image.id


def test_push_uploads_what_the_registry_cannot_mount(
    service: ImageService, registry: RegistryServer
) -> None:
    image, _ = pull(service, f"{registry.host_port}/app:v1")
    # The image's only known source is a repository that never held its blobs.
    pulled_from = reference.parse(f"{registry.host_port}/app@{app_image().manifest_digest}")
    service.tags.delete(pulled_from)
    service.tags.set(reference.parse(f"{registry.host_port}/ghost@{pulled_from.digest}"), image.id)
    target = f"{registry.host_port}/uploaded/app"
    service.tag(image.id, target, "v1")
    messages: list[dict[str, Any]] = []
    asyncio.run(service.push(target, "v1", messages.append))
    top, base = (d.split(":")[1][:12] for d in reversed(app_image().diff_ids))
    assert sorted(m["id"] for m in messages if m.get("status") == "Pushed") == sorted([top, base])
    assert not [m for m in messages if m.get("status", "").startswith("Mounted")]
    other = make_service(Path(service.root).parent / "second")
    pulled, _ = pull(other, f"{target}:v1")
    assert pulled.id == image.id


def test_push_of_an_unknown_tag_is_not_found(service: ImageService) -> None:
    with pytest.raises(errors.NotFound, match="An image does not exist locally with the tag"):
        asyncio.run(service.push("127.0.0.1:1/none", "x", lambda m: None))


def test_prune_removes_untagged_images_only(
    service: ImageService, registry: RegistryServer
) -> None:
    busybox, _ = pull(service, f"{registry.host_port}/busybox")
    hello, _ = pull(service, f"{registry.host_port}/hello-world")
    service.remove(f"{registry.host_port}/hello-world")  # deleted outright: it had one tag
    service.tag(busybox.id, "keep", "me")
    service.remove(f"{registry.host_port}/busybox")  # still tagged keep:me
    assert service.prune() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
    report = service.prune(dangling_only=False)
    assert {"Deleted": busybox.id} in report["ImagesDeleted"]
    assert report["SpaceReclaimed"] == busybox.size
    assert service.list() == []
    assert hello.id not in [i.id for i in service.list()]


def test_prune_takes_only_the_images_its_filters_match(
    service: ImageService, registry: RegistryServer
) -> None:
    labelled = images.extend(images.busybox(), "labelled", "v1", [images.file("/tier", b"db\n")],
                             {"Labels": {"tier": "db"}})  # fmt: skip
    images.push_sync(labelled, registry.url, repo="labelled", tag="v1")
    image, _ = pull(service, f"{registry.host_port}/labelled:v1")
    nothing = {"ImagesDeleted": None, "SpaceReclaimed": 0}
    for filters in (
        {"label": ["tier=web"]},
        {"label": ["tier", "owner"]},
        {"label!": ["tier"]},
        {"label!": ["tier=db"]},
        {"until": ["2023-11-14T22:13:19Z"]},  # one second before it was made
    ):
        assert service.prune(dangling_only=False, filters=filters) == nothing, filters
    with pytest.raises(errors.InvalidArgument, match="invalid filter 'until=soon'"):
        service.prune(dangling_only=False, filters={"until": ["soon"]})
    assert [i.id for i in service.list()] == [image.id]
    report = service.prune(
        dangling_only=False,
        filters={"label": ["tier=db"], "label!": ["owner"], "until": ["2023-11-14T22:13:20Z"]},
    )
    assert {"Deleted": image.id} in report["ImagesDeleted"]
    assert service.list() == []


def test_layers_left_by_a_forced_rmi_are_collected_once_the_container_goes(
    service: ImageService, registry: RegistryServer
) -> None:
    image, _ = pull(service, f"{registry.host_port}/busybox")
    service.snapshots.prepare("ctr", image.chain_id)
    service.image_in_use = lambda image_id: "ctr" if image_id == image.id else None
    removed = service.remove(image.id, force=True)
    assert {"Deleted": image.id} in removed
    assert {"Deleted": image.chain_id} not in removed  # the container's snapshot sits on it
    assert service.snapshots.layers() == [image.chain_id]
    assert service.collect_layers() == []
    service.snapshots.remove("ctr")
    assert service.collect_layers() == [image.chain_id]
    assert service.snapshots.layers() == []


def test_rmi_of_a_digest_reference_keeps_the_tagged_image(
    service: ImageService, registry: RegistryServer
) -> None:
    image, _ = pull(service, f"{registry.host_port}/busybox")
    digest_ref = image.repo_digests[0]
    assert service.remove(digest_ref) == [{"Untagged": digest_ref}]
    kept = service.get(image.id)
    assert kept.repo_digests == [] and kept.repo_tags == [f"{registry.host_port}/busybox:latest"]
    assert service.remove(f"{registry.host_port}/busybox") == [
        {"Untagged": f"{registry.host_port}/busybox:latest"},
        {"Deleted": image.id},
        {"Deleted": image.chain_id},
    ]
