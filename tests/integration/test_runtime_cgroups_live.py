"""Real cgroups: the host's layout, and the cgroup2 mount too when it is a hybrid host's extra.

Each test makes its own parent cgroup and stops its own processes by pid.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.runtime import cgroups

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for cgroups"),
    pytest.mark.timeout(60),
]


@pytest.fixture
def parent() -> Iterator[str]:
    name = f"ketch-test-cg-{uuid.uuid4().hex[:8]}"
    yield name
    layout = cgroups.detect_layout()
    mounts = [*layout.v1_mounts.values(), *([layout.v2_mount] if layout.v2_mount else [])]
    for mount_point in mounts:
        directory = Path(str(mount_point)) / name
        for child in [p for p in directory.glob("*") if p.is_dir()]:
            for pid in (child / "cgroup.procs").read_text().split():
                os.kill(int(pid), signal.SIGKILL)
            deadline = time.monotonic() + 5
            while child.exists() and time.monotonic() < deadline:
                try:
                    child.rmdir()
                except OSError:
                    time.sleep(0.02)
        if directory.exists():
            directory.rmdir()


class BusyChild:
    """A forked process writing dots down a pipe as fast as it can, to see it stop when frozen."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            count = 0
            while True:
                count += 1
                if count % 1000 == 0:
                    os.write(write_end, b".")
        os.close(write_end)
        os.set_blocking(read_end, False)
        self.pid = pid
        self.pipe = read_end

    def progress(self) -> int:
        """Bytes written in the last 0.1 s (and before, not yet read)."""
        time.sleep(0.1)
        total = 0
        while True:
            try:
                chunk = os.read(self.pipe, 65536)
            except BlockingIOError:
                return total
            total += len(chunk)

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.pipe)


def exercise(cgroup: cgroups.Cgroup) -> None:
    child = BusyChild()
    try:
        cgroup.add(child.pid)
        assert cgroup.pids() == [child.pid]
        cgroup.freeze(True)
        child.progress()  # drain what was written before the freeze took hold
        assert child.progress() == 0
        cgroup.freeze(False)
        assert child.progress() > 0
    finally:
        child.stop()
    deadline = time.monotonic() + 5
    while cgroup.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    cgroup.remove()
    assert not any(d.exists() for d in cgroup.directories.values())


def test_host_layout_limits_stats_freeze_and_remove(parent: str) -> None:
    layout = cgroups.detect_layout()
    resources = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    cgroup = cgroups.create(parent, "c", resources, layout)
    stats = cgroup.stats()
    assert stats["memory"]["limit"] == 64 << 20
    assert stats["pids"] == {"current": 0, "limit": 50}
    cgroup.update({"pids": {"limit": 20}})
    assert cgroup.stats()["pids"]["limit"] == 20
    assert cgroups.load(parent, "c", layout).directories == cgroup.directories
    exercise(cgroup)


def test_cgroup2_mount_procs_freeze_and_remove(parent: str) -> None:
    layout = cgroups.detect_layout()
    if layout.v2_mount is None:
        pytest.skip("no cgroup2 mount on this host")
    unified = cgroups.Layout(2, {}, layout.v2_mount)
    # No limits: on a hybrid host the cgroup2 mount holds no cpu/memory/pids controllers.
    cgroup = cgroups.create(parent, "c", None, unified)
    assert cgroup.procs_files == [f"{layout.v2_mount}/{parent}/c/cgroup.procs"]
    exercise(cgroup)


def limit_files(cgroup: cgroups.Cgroup) -> dict[str, str]:
    """The limit files docker update rewrites, as this host's layout names them."""

    def read(controller: str, name: str) -> str:
        directory = cgroups._dir_for(cgroup, controller)
        assert directory is not None, controller
        return (directory / name).read_text().strip()

    if cgroup.layout.version == 2:
        names = {"memory": "memory.max", "cpu": "cpu.max", "cpu.weight": "cpu.weight",
                 "cpuset": "cpuset.cpus", "pids": "pids.max"}  # fmt: skip
        return {key: read(key.split(".")[0], name) for key, name in names.items()}
    memsw = cgroups._dir_for(cgroup, "memory")
    assert memsw is not None
    swap_file = memsw / "memory.memsw.limit_in_bytes"
    return {
        "memory": read("memory", "memory.limit_in_bytes"),
        "memsw": swap_file.read_text().strip() if swap_file.exists() else "",
        "quota": read("cpu", "cpu.cfs_quota_us"),
        "period": read("cpu", "cpu.cfs_period_us"),
        "shares": read("cpu", "cpu.shares"),
        "cpuset": read("cpuset", "cpuset.cpus"),
        "pids": read("pids", "pids.max"),
    }


def test_update_a_live_cgroup_as_docker_update_does(parent: str) -> None:
    """load(parent, id).update(resources): raising memory and swap past the old swap limit
    (v1 refuses a memory limit above memsw at any step), lowering both, cpu, cpuset, pids."""
    layout = cgroups.detect_layout()
    cpus = "0-1" if (os.cpu_count() or 1) > 1 else "0"
    created = cgroups.create(parent, "c", {
        "memory": {"limit": 64 << 20, "swap": 128 << 20},
        "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"},
        "pids": {"limit": 50},
        "devices": [{"allow": False, "access": "rwm"}],
    }, layout)  # fmt: skip
    child = BusyChild()
    try:
        created.add(child.pid)
        cgroup = cgroups.load(parent, "c")
        before = limit_files(cgroup)
        cgroup.update({
            "memory": {"limit": 256 << 20, "swap": 512 << 20},
            "cpu": {"quota": 150000, "period": 200000, "shares": 1024, "cpus": cpus},
            "pids": {"limit": 20},
            "devices": [{"allow": False, "access": "rwm"}],
        })  # fmt: skip
        after = limit_files(cgroup)
        if layout.version == 1:
            assert before["memsw"] in ("", str(128 << 20))
            assert after == {
                "memory": str(256 << 20),
                "memsw": str(512 << 20) if before["memsw"] else "",
                "quota": "150000", "period": "200000", "shares": "1024",
                "cpuset": cpus, "pids": "20",
            }  # fmt: skip
        else:
            assert after["memory"] == str(256 << 20) and after["cpu"] == "150000 200000"
            assert after["cpuset"] == cpus and after["pids"] == "20"
        cgroup.update({"memory": {"limit": 32 << 20, "swap": 32 << 20}, "pids": {"limit": -1}})
        lowered = limit_files(cgroup)
        assert lowered["memory"] == str(32 << 20) and lowered["pids"] == "max"
        if layout.version == 1 and before["memsw"]:
            assert lowered["memsw"] == str(32 << 20)
        assert cgroup.stats()["memory"]["limit"] == 32 << 20
        assert cgroup.pids() == [child.pid]  # the process lived through it all
    finally:
        child.stop()
