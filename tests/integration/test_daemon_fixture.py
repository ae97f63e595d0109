"""run_daemon's stop() leaves nothing behind: shims, containers, mounts, cgroups, dirs."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from ketch.testing.daemon import run_daemon
from ketch.testing.registry import RegistryServer

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_stop_cleans_up_after_a_killed_daemon(tmp_path: Path, hub_mirror: RegistryServer) -> None:
    daemon = run_daemon(tmp_path, mirrors=[hub_mirror.url])
    try:
        client = docker.DockerClient(base_url=daemon.url, version="1.45")
        client.images.pull("busybox", tag="latest")
        container = client.containers.run("busybox", ["sleep", "300"], detach=True)
        pid = client.api.inspect_container(container.id)["State"]["Pid"]
        client.close()
        daemon.kill()  # as a crashed test would leave it: ketchd gone, the container running
        assert Path(f"/proc/{pid}").exists()
    finally:
        daemon.stop()
    assert not alive(pid)
    assert not daemon.exec_root.exists()
    assert not daemon.data_root.exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(daemon.data_root) not in mounts and str(daemon.exec_root) not in mounts
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{daemon.cgroup_parent}"))
