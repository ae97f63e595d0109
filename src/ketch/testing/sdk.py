"""The Docker SDK for Python pointed at a test's ketchd, busybox pulled, and what the
test labelled removed afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker  # type: ignore[import-untyped]  # a test dependency without stubs

from ketch.testing.daemon import Daemon


@contextlib.contextmanager
def sdk_client(
    daemon: Daemon, label: str | None = None, *, volumes: bool = False
) -> Iterator[docker.DockerClient]:
    """The SDK client; on the way out the containers labelled `label` are removed, and with
    `volumes` their anonymous volumes and the volumes of that label too."""
    client = docker.DockerClient(base_url=daemon.url, version="1.45", timeout=60)
    try:
        client.images.pull("busybox", tag="latest")
        yield client
    finally:
        if label is not None:
            for container in client.containers.list(all=True, filters={"label": label}):
                with contextlib.suppress(docker.errors.NotFound):  # an --rm one ending meanwhile
                    container.remove(force=True, v=volumes)
            if volumes:
                for volume in client.volumes.list(filters={"label": label}):
                    volume.remove(force=True)
        client.close()
