"""API details Docker clients rely on (docker-py's and compose's own suites found them),
through the Docker SDK against a real ketchd."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator

import docker
import pytest

from ketch.testing.commands import unique
from ketch.testing.daemon import Daemon
from ketch.testing.sdk import sdk_client

pytestmark = pytest.mark.integration
LABELS = {"ketch-test-details": "1"}


@pytest.fixture
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    with sdk_client(ketchd, "ketch-test-details") as client:
        yield client


def old_api(ketchd: Daemon, version: str) -> docker.APIClient:
    return docker.APIClient(base_url=ketchd.url, version=version, timeout=60)


def test_old_clients_get_container_config_and_new_ones_do_not(
    client: docker.DockerClient, ketchd: Daemon
) -> None:
    container = client.containers.run("busybox", ["touch", "/made"], detach=True, labels=LABELS)
    container.wait(timeout=30)
    repo = unique("old-api")
    image = container.commit(repository=repo, tag="t")
    try:
        compose_era = old_api(ketchd, "1.30").inspect_image(image.id)
        assert compose_era["Container"] == container.id
        assert compose_era["ContainerConfig"]["Cmd"] == ["touch", "/made"]
        assert compose_era["VirtualSize"] == compose_era["Size"]
        busybox = client.images.get("busybox")
        assert old_api(ketchd, "1.30").inspect_image(busybox.id)["ContainerConfig"]["Tty"] is False
        assert compose_era["Parent"] == busybox.id
        current = client.api.inspect_image(image.id)
        assert "ContainerConfig" not in current and "Container" not in current
        assert current["Parent"] == busybox.id
    finally:
        client.images.remove(image.id, force=True)


def test_commit_of_a_container_that_is_ending_pauses_what_it_can(
    client: docker.DockerClient,
) -> None:
    # docker-py's test_commit: the container may end while the commit pauses it.
    for _ in range(3):
        container = client.containers.run("busybox", ["touch", "/test"], detach=True,
                                          labels=LABELS)  # fmt: skip
        image_id = client.api.commit(container.id, pause=True)["Id"]
        client.images.remove(image_id, force=True)
    running = client.containers.run("busybox", ["sleep", "300"], detach=True, labels=LABELS)
    image_id = client.api.commit(running.id, pause=True)["Id"]
    client.images.remove(image_id, force=True)
    running.reload()
    assert running.status == "running" and running.attrs["State"]["Paused"] is False


def test_commit_and_import_apply_changes(client: docker.DockerClient) -> None:
    container = client.containers.run("busybox", ["sleep", "300"], detach=True,
                                      environment={"A": "1"}, labels=LABELS)  # fmt: skip
    image_id = client.api.commit(
        container.id, changes=["EXPOSE 8000", 'CMD ["bash"]', "ENV B=$A", "WORKDIR /w"]
    )["Id"]
    try:
        config = client.api.inspect_image(image_id)["Config"]
        assert "8000/tcp" in config["ExposedPorts"] and config["Cmd"] == ["bash"]
        assert "B=1" in config["Env"] and "A=1" in config["Env"]
        assert config["WorkingDir"] == "/w"
    finally:
        client.images.remove(image_id, force=True)
    with pytest.raises(docker.errors.APIError, match="run is not a valid change command"):
        client.api.commit(container.id, changes=["RUN true"])
    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    repo = unique("imported")
    client.api.import_image_from_data(rootfs.getvalue(), repository=repo, tag="t",
                                      changes=["ENV X=y", "LABEL k=v"])  # fmt: skip
    try:
        config = client.api.inspect_image(f"{repo}:t")["Config"]
        assert config["Env"] == ["X=y"] and config["Labels"] == {"k": "v"}
    finally:
        client.images.remove(f"{repo}:t", force=True)


def test_load_takes_an_uncompressed_legacy_archive_with_a_symlinked_layer(
    client: docker.DockerClient,
) -> None:
    saved = b"".join(client.images.get("busybox").save(named=True))
    config_name, layer_name, config, tags = "", "", b"", []
    layer = b""
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config_name = manifest[0]["Config"]
        config = tar.extractfile(config_name).read()  # type: ignore[union-attr]
        layer_name = manifest[0]["Layers"][0]
        layer = tar.extractfile(layer_name).read()  # type: ignore[union-attr]
        tags = manifest[0]["RepoTags"]
    # dockerd 20.10's layout: the layer in one directory, a symlink to it from another.
    repo = unique("legacy")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("abc/layer.tar", layer), ("cfg.json", config)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("def/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../abc/layer.tar"
        tar.addfile(link)
        body = json.dumps([{"Config": "cfg.json", "RepoTags": [f"{repo}:t"],
                            "Layers": ["def/layer.tar"]}]).encode()  # fmt: skip
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    assert tags
    loaded = client.images.load(archive.getvalue())
    assert len(loaded) == 1 and f"{repo}:t" in loaded[0].tags  # busybox's image, retagged
    client.images.remove(f"{repo}:t")
    # A bad archive is reported in the stream, where docker-py looks for it.
    with pytest.raises(docker.errors.ImageLoadError):
        client.images.load(b"abc")


def test_distribution_names_the_manifest_and_its_platforms(client: docker.DockerClient) -> None:
    found = client.api.inspect_distribution("busybox:latest")
    assert found["Descriptor"]["digest"].startswith("sha256:")
    assert found["Descriptor"]["size"] > 0
    assert {"os": "linux", "architecture": "amd64"} in found["Platforms"]


def test_a_restarting_container_is_not_removed_without_force(client: docker.DockerClient) -> None:
    container = client.containers.run("busybox", ["sleep", "1"], detach=True, labels=LABELS,
                                      restart_policy={"Name": "always"})  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        container.reload()
        if container.attrs["State"]["Restarting"]:
            with pytest.raises(docker.errors.APIError) as caught:
                container.remove()
            assert caught.value.response.status_code == 409
            assert "stop the container before" in caught.value.explanation.lower()
            break
        time.sleep(0.05)
    else:
        pytest.fail("the container was never seen restarting")
    container.remove(force=True)


def test_runtime_env_and_diff_as_docker_shows_them(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox", ["sh", "-c", "touch /test; env; exec sleep 300"], detach=True,
        environment=["Foo", "Other=one", "Blank="], labels=LABELS,
    )  # fmt: skip
    assert container.attrs["HostConfig"]["Runtime"] == "runc"
    assert client.info()["DefaultRuntime"] == "runc"
    env = client.api.inspect_container(container.id)["Config"]["Env"]
    assert "Foo" in env and "Other=one" in env and "Blank=" in env
    deadline = time.monotonic() + 10
    while b"Other=one" not in container.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = container.logs().decode().splitlines()
    assert "Other=one" in lines and "Blank=" in lines
    assert not [line for line in lines if line.startswith("Foo")]
    assert container.diff() == [{"Kind": 1, "Path": "/test"}]
