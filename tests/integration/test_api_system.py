"""`GET /info` and `GET /system/df` figures, each measured rather than written down:
checked against what the machine and the daemon's stores say."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import docker
import pytest

from ketch.snapshots.backing import FS_NAMES
from ketch.testing.commands import unique
from ketch.testing.daemon import Daemon, run_daemon

pytestmark = pytest.mark.integration


def wait_for(read: Callable[[], Any], wanted: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := read()) != wanted:
        assert time.monotonic() < deadline, f"still {got!r}, not {wanted!r}"
        time.sleep(0.02)


def open_event_stream(daemon: Daemon) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(daemon.socket_path))
    sock.sendall(b"GET /v1.45/events HTTP/1.1\r\nHost: ketch\r\n\r\n")
    return sock


def backing_filesystem_of(info: dict[str, Any]) -> str:
    return dict(info["DriverStatus"])["Backing Filesystem"]


def test_event_listeners_are_counted_while_their_streams_are_open(
    ketchd: Daemon, client: docker.DockerClient
) -> None:
    def listeners() -> int:
        return client.info()["NEventsListener"]

    assert listeners() == 0
    with ExitStack() as streams:
        first = streams.enter_context(open_event_stream(ketchd))
        wait_for(listeners, 1)
        streams.enter_context(open_event_stream(ketchd))
        wait_for(listeners, 2)
        first.close()
        wait_for(listeners, 1)  # a client that hangs up is no listener any more
    wait_for(listeners, 0)


def test_backing_filesystem_is_the_data_roots(ketchd: Daemon, client: docker.DockerClient) -> None:
    # coreutils' statfs of the same directory, named through dockerd's table
    magic = subprocess.run(["stat", "-f", "-c", "%t", str(ketchd.data_root / "snapshots")],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert backing_filesystem_of(client.info()) == FS_NAMES.get(int(magic, 16), "<unknown>")


def test_a_data_root_on_tmpfs_is_backed_by_tmpfs(tmp_path: Path) -> None:
    base = tmp_path / "ketchd"
    base.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(base)], check=True)
    try:
        daemon = run_daemon(tmp_path)
        try:
            client = docker.DockerClient(base_url=daemon.url, version="1.45")
            try:
                assert backing_filesystem_of(client.info()) == "tmpfs"
            finally:
                client.close()
        finally:
            daemon.stop()
    finally:
        subprocess.run(["umount", "--lazy", str(base)], check=False)


def test_forwarding_and_plugins_are_the_hosts_and_the_daemons(client: docker.DockerClient) -> None:
    info = client.info()
    host = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    assert info["IPv4Forwarding"] is host
    assert info["Plugins"]["Volume"] == ["local"]
    with pytest.raises(docker.errors.NotFound, match='plugin "nfs-plugin" not found'):
        client.volumes.create(unique("vol"), driver="nfs-plugin")


def test_df_counts_shared_layers_once_and_measures_what_containers_wrote(
    client: docker.DockerClient,
) -> None:
    client.images.pull("busybox", tag="latest")
    container = client.containers.run(
        "busybox", ["sh", "-c", "head -c 300000 /dev/zero > /written"], detach=True
    )
    repo = unique("df-commit")
    try:
        container.wait(timeout=30)
        # a second image on busybox's layer: that layer is shared, and held once
        committed = container.commit(repository=repo, tag="v1")
        df = client.df()
        images = {row["Id"]: row for row in df["Images"]}
        busybox = images[client.images.get("busybox").id]
        mine = images[committed.id]
        assert busybox["SharedSize"] == busybox["Size"] > 0
        assert mine["SharedSize"] == busybox["Size"] < mine["Size"]
        # this module's daemon holds just these two: busybox's layer and the commit's
        assert set(images) == {busybox["Id"], mine["Id"]}
        assert df["LayersSize"] == mine["Size"] < mine["Size"] + busybox["Size"]
        row = next(row for row in df["Containers"] if row["Id"] == container.id)
        assert 300_000 <= row["SizeRw"] < 400_000
        assert row["SizeRootFs"] == row["SizeRw"] + busybox["Size"]
        assert df["Volumes"] == [] and df["BuildCache"] == []
    finally:
        container.remove(force=True)
        client.images.remove(f"{repo}:v1", force=True)
