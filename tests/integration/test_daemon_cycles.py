"""Nothing grows in a real ketchd over 200 create/start/exec/remove cycles: its open files,
its tasks, its files on disk, its shims and cgroups all come back to where they were."""

from __future__ import annotations

import os
import time
from pathlib import Path

import docker
import pytest

from ketch.runtime.cgroups import detect_layout
from ketch.testing.daemon import Daemon

pytestmark = pytest.mark.integration

CYCLES = 200


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def shims_holding(container_ids: set[str]) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-id" in words and any(w.decode(errors="replace") in container_ids for w in words):
            found.append(pid)
    return found


def eventually_empty(what: str, read: object) -> None:
    deadline = time.monotonic() + 30  # a shim lingers briefly for a late waiter
    while True:
        left = read()  # type: ignore[operator]
        if not left or time.monotonic() > deadline:
            assert not left, f"{what} left behind: {left}"
            return
        time.sleep(0.2)


def one_cycle(client: docker.DockerClient, seen: set[str]) -> None:
    container = client.containers.create("busybox", ["sleep", "60"])
    seen.add(container.id)
    container.start()
    code, output = container.exec_run(["echo", "hi"])
    assert (code, output) == (0, b"hi\n")
    container.remove(force=True)


def test_nothing_grows_over_200_create_exec_remove_cycles(
    ketchd: Daemon, client: docker.DockerClient
) -> None:
    client.images.pull("busybox", tag="latest")
    seen: set[str] = set()
    for _ in range(10):  # warm: the fork server, the image's caches, the API's first routes
        one_cycle(client, seen)
    files_before = open_files(ketchd.pid)
    tasks_before = client.info()["NGoroutines"]
    for _ in range(CYCLES):
        one_cycle(client, seen)
    assert client.containers.list(all=True, filters={"ancestor": "busybox"}) == []
    # As many descriptors and tasks as before, give or take what is opened once and
    # lazily (a netlink socket, a worker thread's): one kept per cycle would show 200.
    assert open_files(ketchd.pid) <= files_before + 2
    assert client.info()["NGoroutines"] <= tasks_before + 2
    containers_dir = ketchd.data_root / "containers"
    snapshots_dir = ketchd.data_root / "snapshots" / "containers"
    eventually_empty("container records", lambda: sorted(p.name for p in containers_dir.iterdir()))
    eventually_empty("snapshots", lambda: [p.name for p in snapshots_dir.iterdir()
                                           if not p.name.startswith(".")])  # fmt: skip
    eventually_empty("shim sockets", lambda: list((ketchd.exec_root / "s").iterdir()))
    eventually_empty("shims", lambda: shims_holding(seen))
    eventually_empty("cgroups", lambda: container_cgroups(ketchd.cgroup_parent))


def container_cgroups(parent: str) -> list[str]:
    layout = detect_layout()
    roots = list(layout.v1_mounts.values()) if layout.version == 1 else [layout.v2_mount or ""]
    parents = [Path(root) / parent for root in roots]
    return [str(p) for d in parents if d.is_dir() for p in d.iterdir() if p.is_dir()]
