"""Pulls whose registry connection breaks: cut off halfway by a proxy, the registry
killed mid-pull or down before it. The error is clear, nothing half-stored is
visible, the daemon stays healthy, and a retry resumes the partial download."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from ketch.snapshots import chain_ids
from ketch.testing import images
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.proxy import BreakingProxy
from ketch.testing.registry import RegistryServer, run_registry

pytestmark = pytest.mark.integration

KETCH = shutil.which("ketch", path=os.path.dirname(sys.executable)) or "ketch"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
CUT_AFTER = 1_500_000  # bytes of the 6.9 MB redis layer let through per attempt


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with run_registry(tmp_path_factory.mktemp("registry")) as server:
        images.push_sync(images.redis(), server.url, repo="robust/redis", tag="latest")
        yield server


@pytest.fixture
def proxy(registry: RegistryServer) -> Iterator[BreakingProxy]:
    proxy = BreakingProxy(int(registry.host_port.rsplit(":", 1)[1]))
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    daemon = run_daemon(tmp_path)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def api(daemon: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=daemon.url, version="1.45", timeout=120)
    try:
        yield client
    finally:
        client.close()


def pull_messages(api: docker.APIClient, ref: str) -> list[dict[str, Any]]:
    repository, tag = ref.rsplit(":", 1)
    return list(api.pull(repository, tag=tag, stream=True, decode=True))


def cli(program: str, daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KETCH_HOST=daemon.url, DOCKER_HOST=daemon.url)
    env["DOCKER_CONFIG"] = str(daemon.data_root.parent / "docker-config")
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run([program, *args], env=env, capture_output=True, text=True, timeout=120)


def stored_blobs(daemon: Daemon) -> set[str]:
    return {p.name for p in (daemon.data_root / "content/blobs/sha256").iterdir()}


def layer_dirs(daemon: Daemon) -> set[str]:
    return {p.name for p in (daemon.data_root / "snapshots/layers").iterdir()}


def assert_healthy(daemon: Daemon, api: docker.APIClient) -> None:
    assert daemon.process.poll() is None, daemon.log()
    assert api.ping() is True
    assert isinstance(api.images(), list) and isinstance(api.containers(all=True), list)


def assert_nothing_half_stored(daemon: Daemon, api: docker.APIClient, image: Any) -> None:
    """No image record, no committed blob or unpacked layer for what did not arrive."""
    assert not [i for i in api.images() if any("robust/redis" in t for t in i["RepoTags"] or [])]
    layer_hex = image.layer_digests[0].split(":", 1)[1]
    assert layer_hex not in stored_blobs(daemon)
    chain = chain_ids(image.diff_ids)
    assert not {c.split(":", 1)[1] for c in chain} & layer_dirs(daemon)
    assert not [d for d in layer_dirs(daemon) if d.startswith(".")]  # no half-unpacked layer


def test_a_pull_cut_off_halfway_stores_nothing_and_resumes(
    daemon: Daemon, api: docker.APIClient, proxy: BreakingProxy
) -> None:
    redis = images.redis()
    big = redis.layer_digests[0]
    proxy.target, proxy.cut_after = big, CUT_AFTER
    ref = f"{proxy.host_port}/robust/redis:latest"
    url = f"http://{proxy.host_port}/v2/robust/redis/blobs/{big}"
    cut_message = re.compile(
        rf'GET "{re.escape(url)}": connection closed after \d+ of {len(redis.layers[0])} bytes'
    )

    messages = pull_messages(api, ref)
    assert cut_message.match(messages[-1]["error"]), messages[-1]
    assert messages[-1]["errorDetail"]["message"] == messages[-1]["error"]
    assert_nothing_half_stored(daemon, api, redis)
    partial = daemon.data_root / "content/ingest" / big.split(":", 1)[1]
    kept = partial.stat().st_size
    assert 0 < kept < len(redis.layers[0])

    # The same through the docker CLI and ketch's own: non-zero and the same words.
    for program in (DOCKER, KETCH):
        result = cli(program, daemon, "pull", ref)
        assert result.returncode != 0, result
        assert cut_message.search(result.stderr + result.stdout), result
        assert_nothing_half_stored(daemon, api, redis)
        # Each attempt resumed the partial and added to it.
        assert partial.stat().st_size > kept
        kept = partial.stat().st_size
    assert_healthy(daemon, api)

    # A working path: the download resumes where it stopped, and the image is whole.
    proxy.target = None
    proxy.requests.clear()
    messages = pull_messages(api, ref)
    assert not [m for m in messages if "error" in m], messages
    assert messages[-1] == {"status": f"Status: Downloaded newer image for {ref}"}
    sent = b"".join(proxy.requests)
    assert f"/blobs/{big}".encode() in sent
    assert re.search(rf"range: bytes={kept}-".encode(), sent.lower()), "not resumed"
    assert not partial.exists()
    assert {d.split(":", 1)[1] for d in redis.layer_digests} <= stored_blobs(daemon)
    assert api.inspect_image(ref)["Id"] == redis.id


def test_registry_down_before_the_pull_is_connection_refused(
    tmp_path: Path, daemon: Daemon, api: docker.APIClient
) -> None:
    with run_registry(tmp_path / "doomed") as doomed:
        images.push_sync(images.busybox(), doomed.url, repo="robust/busybox", tag="latest")
        os.kill(doomed.pid, signal.SIGKILL)
        ref = f"{doomed.host_port}/robust/busybox:latest"
        with pytest.raises(docker.errors.APIError) as caught:
            pull_messages(api, ref)
        expected = (
            f'Get "http://{doomed.host_port}/v2/robust/busybox/manifests/latest": '
            f"dial tcp {doomed.host_port}: "
            "connect: connection refused"
        )
        assert caught.value.explanation == expected
        assert caught.value.response.status_code == 503
        for program in (DOCKER, KETCH):
            result = cli(program, daemon, "pull", ref)
            assert result.returncode == 1, result
            assert expected in result.stderr, result
        assert_healthy(daemon, api)
        assert stored_blobs(daemon) == set()
        assert api.images() == []


def test_registry_killed_mid_pull(tmp_path: Path, daemon: Daemon, api: docker.APIClient) -> None:
    redis = images.redis()
    with run_registry(tmp_path / "doomed") as doomed:
        images.push_sync(redis, doomed.url, repo="robust/redis", tag="latest")
        proxy = BreakingProxy(int(doomed.host_port.rsplit(":", 1)[1]))
        try:
            proxy.target, proxy.cut_after, proxy.mode = redis.layer_digests[0], CUT_AFTER, "kill"
            proxy.on_cut = lambda: os.kill(doomed.pid, signal.SIGKILL)
            ref = f"{proxy.host_port}/robust/redis:latest"
            messages = pull_messages(api, ref)
            assert proxy.cut.is_set()
            # The layer being cut, or the other one whose next request met the dead registry.
            error = messages[-1]["error"]
            assert error.lower().startswith(
                f'get "http://{proxy.host_port}/v2/robust/redis/blobs/'
            ), error
            assert re.search(r"connection closed after \d+ of \d+ bytes|Server disconnected", error)
            assert_nothing_half_stored(daemon, api, redis)
            assert_healthy(daemon, api)
            # The registry stays down: a pull from it (not through the proxy, which
            # would accept and then hang up) is refused.
            with pytest.raises(docker.errors.APIError) as caught:
                pull_messages(api, f"{doomed.host_port}/robust/redis:latest")
            assert caught.value.explanation.endswith(
                f"dial tcp {doomed.host_port}: connect: connection refused"
            ), caught.value
            assert_nothing_half_stored(daemon, api, redis)
        finally:
            proxy.close()
    assert_healthy(daemon, api)
