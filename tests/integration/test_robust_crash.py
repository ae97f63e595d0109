"""ketchd SIGKILLed in the middle of a pull and of a container start, then started again:
the store is consistent (no image record without its blobs, no half-unpacked layer,
no container state that lies about its processes), `ps -a` and `images` work, and
the pull can be retried, resuming what was downloaded."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.shim.state import is_same_process, read_state
from ketch.snapshots import chain_ids
from ketch.testing import images
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.proxy import BreakingProxy
from ketch.testing.registry import RegistryServer, run_registry

pytestmark = pytest.mark.integration

KETCH = shutil.which("ketch", path=os.path.dirname(sys.executable)) or "ketch"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with run_registry(tmp_path_factory.mktemp("registry")) as server:
        images.push_sync(images.redis(), server.url, repo="crash/redis", tag="latest")
        images.push_sync(images.busybox(), server.url, repo="crash/busybox", tag="latest")
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


def api_of(daemon: Daemon) -> docker.APIClient:
    return docker.APIClient(base_url=daemon.url, version="1.45", timeout=120)


def ketch(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KETCH_HOST=daemon.url)
    return subprocess.run([KETCH, *args], env=env, capture_output=True, text=True, timeout=60)


def assert_store_consistent(daemon: Daemon) -> None:
    """Every image record's blobs are stored and its layers unpacked; nothing half-made."""
    data = daemon.data_root
    blobs = data / "content/blobs"
    for record_path in (data / "images/meta").glob("*.json"):
        record = json.loads(record_path.read_text())
        assert (blobs / "sha256" / record["id"].split(":", 1)[1]).is_file(), record
        for layer in record["layers"]:
            assert (blobs / layer["digest"].replace(":", "/")).is_file(), record
        for chain in chain_ids(record["diff_ids"]):
            assert (data / "snapshots/layers" / chain.split(":", 1)[1] / "diff").is_dir()
    leftovers = [p.name for p in (data / "snapshots/layers").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    for cli in (("ps", "-a"), ("images",)):
        result = ketch(daemon, *cli)
        assert result.returncode == 0, result


@pytest.mark.parametrize("layer", [0, 1], ids=["first-layer", "second-layer"])
def test_killed_during_a_pull(daemon: Daemon, proxy: BreakingProxy, layer: int) -> None:
    redis = images.redis()
    target = redis.layer_digests[layer]
    # The download of one layer stops halfway and hangs there; the other goes on
    # (and, for the second layer, the first may be unpacking) when ketchd is killed.
    proxy.target, proxy.cut_after, proxy.mode = target, len(redis.layers[layer]) // 2, "stall"
    ref = f"{proxy.host_port}/crash/redis:latest"
    pulling = subprocess.Popen(
        [KETCH, "pull", ref], env=dict(os.environ, KETCH_HOST=daemon.url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proxy.cut.wait(60), "the pull never reached the layer"
        partial = daemon.data_root / "content/ingest" / target.split(":", 1)[1]
        # The bytes before the stall reach the ingest (bounded, should it never happen).
        deadline = time.monotonic() + 30
        while (not partial.exists() or partial.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        daemon.kill()
    finally:
        proxy.release()
        pulling.communicate(timeout=60)
    assert pulling.returncode != 0
    daemon.restart()
    api = api_of(daemon)
    assert api.images() == []
    assert_store_consistent(daemon)
    kept = partial.stat().st_size
    assert kept > 0

    proxy.target = None
    proxy.requests.clear()
    result = ketch(daemon, "pull", ref)
    assert result.returncode == 0, result
    assert f"Status: Downloaded newer image for {ref}" in result.stdout
    assert re.search(rf"range: bytes={kept}-".encode(), b"".join(proxy.requests).lower())
    assert api.inspect_image(ref)["Id"] == redis.id
    assert_store_consistent(daemon)


def post_without_waiting(daemon: Daemon, path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(daemon.socket_path))
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: ketch\r\nContent-Length: 0\r\n\r\n".encode())
    return sock


def test_killed_during_a_container_start(daemon: Daemon, registry: RegistryServer) -> None:
    api = api_of(daemon)
    ref = f"{registry.host_port}/crash/busybox:latest"
    list(api.pull(ref.rsplit(":", 1)[0], tag="latest", stream=True))
    container = api.create_container(ref, ["sleep", "300"])["Id"]
    state_file = daemon.data_root / "containers" / container / "shim-state.json"
    sock = post_without_waiting(daemon, f"/containers/{container}/start")
    try:
        # The shim exists: ketchd is inside the start (spawned, starting, or just done).
        deadline = time.monotonic() + 30
        while not state_file.exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert state_file.exists(), "no shim was spawned"
        daemon.kill()
    finally:
        sock.close()
    shim = read_state(state_file.parent)
    assert shim is not None
    daemon.restart()
    api = api_of(daemon)
    assert_store_consistent(daemon)

    state = api.inspect_container(container)["State"]
    live = read_state(state_file.parent)
    # The record tells the truth about the processes: running with the live init,
    # or not running with no shim or container process left behind.
    if state["Running"]:
        assert live is not None and live["status"] == "running"
        assert state["Pid"] == live["init_pid"]
        assert running(live["shim_pid"], live["shim_start_time"])
    else:
        assert state["Status"] == "created", state
        # Told to go at the restore; it exits once it has reaped its init and removed the
        # cgroup, a moment after it replied.
        assert gone_within(5, shim["shim_pid"], shim["shim_start_time"]), shim
        assert gone_within(5, shim["init_pid"], shim["init_start_time"]), shim
    # Whatever the moment was, the container is usable: start (again), exec, stop, remove.
    if not state["Running"]:
        api.start(container)
    exec_id = api.exec_create(container, ["echo", "alive"])["Id"]
    assert api.exec_start(exec_id) == b"alive\n"
    api.stop(container, timeout=1)
    assert api.inspect_container(container)["State"]["Status"] == "exited"
    final = read_state(state_file.parent)
    assert final is not None and not running(final["init_pid"], final["init_start_time"])
    api.remove_container(container)
    assert ketch(daemon, "ps", "-a", "-q").stdout.strip() == ""


def gone_within(seconds: float, pid: int | None, start_time: int | None) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid, start_time):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def running(pid: int | None, start_time: int | None) -> bool:
    """The same process still there and not a zombie (this machine's PID 1 reaps none)."""
    if not pid or not is_same_process(pid, start_time):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
