"""Containers outlive ketchd: after a SIGKILL and a restart they are found again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import RegistryServer

pytestmark = pytest.mark.integration


@pytest.fixture
def daemon(tmp_path: Path, hub_mirror: RegistryServer) -> Iterator[Daemon]:
    d = run_daemon(tmp_path, mirrors=[hub_mirror.url])
    try:
        yield d
    finally:
        d.stop()


def connect(daemon: Daemon) -> docker.DockerClient:
    return docker.DockerClient(base_url=daemon.url, version="1.45", timeout=60)


def wait_for_log(container, expected: bytes, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    logs = b""
    while time.monotonic() < deadline:
        logs = container.logs()
        if expected in logs:
            break
        time.sleep(0.05)
    return logs


def test_running_container_survives_a_killed_daemon(daemon: Daemon) -> None:
    client = connect(daemon)
    client.images.pull("busybox", tag="latest")
    container = client.containers.run(
        "busybox",
        ["sh", "-c", "echo before; read line; echo got-$line; while :; do sleep 0.1; done"],
        stdin_open=True, detach=True, name="survivor",
    )  # fmt: skip
    assert b"before" in wait_for_log(container, b"before")
    pid = client.api.inspect_container("survivor")["State"]["Pid"]
    client.close()

    daemon.kill()
    assert Path(f"/proc/{pid}").exists(), "the container died with ketchd"
    daemon.restart()

    client = connect(daemon)
    try:
        again = client.containers.get("survivor")
        assert again.status == "running"
        assert again.attrs["State"]["Pid"] == pid
        assert again.logs() == b"before\n"
        result = again.exec_run(["sh", "-c", "echo inside"])
        assert (result.exit_code, result.output) == (0, b"inside\n")
        # attach after the restart: stdin reaches the container, its output comes back
        socket = again.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
        socket._sock.sendall(b"hello\n")
        socket._sock.settimeout(10)
        seen = b""
        while b"got-hello" not in seen:
            chunk = socket._sock.recv(4096)
            assert chunk, seen
            seen += chunk
        assert wait_for_log(again, b"got-hello").endswith(b"got-hello\n")
        again.stop(timeout=1)
        socket.close()
        again.reload()
        assert again.status == "exited"
        assert again.attrs["State"]["ExitCode"] == 137
        assert not Path(f"/proc/{pid}").exists()
        again.remove()
    finally:
        client.close()


def test_auto_remove_container_that_exited_while_down_is_removed(daemon: Daemon) -> None:
    client = connect(daemon)
    client.images.pull("busybox", tag="latest")
    container = client.containers.run(
        "busybox", ["sleep", "1"], detach=True, auto_remove=True, name="gone-while-down"
    )
    kept = client.containers.run("busybox", ["sleep", "1"], detach=True, name="kept")
    client.close()

    daemon.kill()
    time.sleep(1.5)  # both exit while ketchd is down
    daemon.restart()

    client = connect(daemon)
    try:
        names = {c.name for c in client.containers.list(all=True)}
        assert "gone-while-down" not in names
        assert not (daemon.data_root / "containers" / container.id).exists()
        stopped = client.containers.get("kept")
        assert stopped.status == "exited"
        assert stopped.attrs["State"]["ExitCode"] == 0
        assert kept.id == stopped.id
        stopped.remove()
    finally:
        client.close()


def test_sigterm_leaves_containers_running(daemon: Daemon) -> None:
    client = connect(daemon)
    client.images.pull("busybox", tag="latest")
    container = client.containers.run("busybox", ["sleep", "300"], detach=True)
    pid = client.api.inspect_container(container.id)["State"]["Pid"]
    client.close()
    assert daemon.terminate() == 0
    assert Path(f"/proc/{pid}").exists()
    daemon.restart()
    client = connect(daemon)
    try:
        assert client.containers.get(container.id).status == "running"
        client.containers.get(container.id).remove(force=True)
        assert client.containers.list(all=True) == []
    finally:
        client.close()


def test_a_killed_fork_server_is_replaced(daemon: Daemon) -> None:
    import os
    import signal

    client = connect(daemon)
    try:
        client.images.pull("busybox", tag="latest")
        assert client.containers.run("busybox", ["echo", "one"], remove=True) == b"one\n"
        # The fork server is ketchd's child (shims are forked from it, then detached).
        forkservers = [
            int(pid) for pid in os.listdir("/proc") if pid.isdigit()
            and f"{daemon.exec_root}/forkserver.sock".encode() in _cmdline(int(pid))
            and _parent(int(pid)) == daemon.pid
        ]  # fmt: skip
        assert len(forkservers) == 1
        os.kill(forkservers[0], signal.SIGKILL)
        assert client.containers.run("busybox", ["echo", "two"], remove=True) == b"two\n"
    finally:
        client.close()


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
