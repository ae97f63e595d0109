"""Shared fixtures: a real registry standing in for Docker Hub, and a real ketchd.

The registry is Debian's docker-registry on 127.0.0.1, seeded with the images
ketch builds offline under `library/`, and ketchd uses it as a
`registry-mirrors` entry, so `hello-world` resolves exactly as on Docker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.testing import images
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import RegistryServer, run_registry


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        raise pytest.UsageError("integration tests need root: namespaces, mounts, cgroups")


@pytest.fixture(scope="session")
def hub_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry holding library/hello-world, library/busybox, library/redis."""
    with run_registry(tmp_path_factory.mktemp("hub")) as registry:
        for name, build in (
            ("hello-world", images.hello_world),
            ("busybox", images.busybox),
            ("redis", images.redis),
        ):
            images.push_sync(build(), registry.url, repo=f"library/{name}", tag="latest")
        yield registry


@pytest.fixture(scope="module")
def ketchd(
    tmp_path_factory: pytest.TempPathFactory, hub_mirror: RegistryServer
) -> Iterator[Daemon]:
    """A ketchd of the test module's own, with the hub mirror configured."""
    daemon = run_daemon(tmp_path_factory.mktemp("ketchd"), mirrors=[hub_mirror.url])
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    """The Docker SDK for Python pointed at ketchd (a module may define its own)."""
    sdk = docker.DockerClient(base_url=ketchd.url, version="1.45", timeout=60)
    try:
        yield sdk
    finally:
        sdk.close()


@pytest.fixture
def docker_env(ketchd: Daemon, tmp_path: Path) -> dict[str, str]:
    """Environment for the real docker CLI pointed at ketchd, with its own config dir."""
    env = dict(os.environ)
    env["DOCKER_HOST"] = ketchd.url
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    env.pop("DOCKER_CONTEXT", None)
    return env


@pytest.fixture
def env(ketchd: Daemon, tmp_path: Path) -> dict[str, str]:
    """Environment for the ketch CLI pointed at ketchd, with its own config dir."""
    environ = dict(os.environ)
    environ["KETCH_HOST"] = ketchd.url
    environ["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    return environ
