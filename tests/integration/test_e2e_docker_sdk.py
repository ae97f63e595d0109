"""The Docker SDK for Python (the `docker` package) against ketchd."""

from __future__ import annotations

import uuid

import docker
import pytest


def test_ping_version_info(client: docker.DockerClient) -> None:
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.45"
    assert version["Os"] == "linux"
    info = client.info()
    assert info["Driver"] == "overlay2"
    assert "RegistryConfig" in info


def test_pull_then_run_and_remove(client: docker.DockerClient) -> None:
    image = client.images.pull("busybox", tag="latest")
    assert "busybox:latest" in image.tags
    output = client.containers.run("busybox", ["echo", "from the sdk"], remove=True)
    assert output == b"from the sdk\n"


def test_run_nonzero_raises_container_error(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ContainerError) as caught:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 4"], remove=True)
    assert caught.value.exit_status == 4
    assert b"oops" in caught.value.stderr


def test_missing_image_is_not_found(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("never-pulled:here")
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("no-such-container-" + uuid.uuid4().hex[:6])


def test_detached_logs_exec_stop(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox",
        ["sh", "-c", "echo ready; exec sleep 300"],
        detach=True,
        name=f"sdk-{uuid.uuid4().hex[:8]}",
    )
    try:
        container.reload()
        assert container.status == "running"
        result = container.exec_run(["sh", "-c", "echo $((2+3)); exit 2"])
        assert result.exit_code == 2
        assert result.output == b"5\n"
        assert container.logs() == b"ready\n"
        container.stop(timeout=1)
        container.reload()
        assert container.status == "exited"
        assert container.attrs["State"]["ExitCode"] == 137  # sleep ignores TERM as pid 1
    finally:
        container.remove(force=True)


def test_wait_returns_status(client: docker.DockerClient) -> None:
    container = client.containers.run("busybox", ["sh", "-c", "exit 9"], detach=True)
    try:
        assert container.wait(timeout=30)["StatusCode"] == 9
    finally:
        container.remove(force=True)
