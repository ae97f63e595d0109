"""The pure parts behind `docker info` and `docker system df` figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.api.system import ipv4_forwarding
from ketch.containers.events import EventBus
from ketch.images.usage import layer_usage
from ketch.snapshots.backing import UNKNOWN, backing_filesystem

SIZES = {"base": 1000, "app": 30, "other": 7}


def test_shared_layers_count_once_and_towards_every_image_that_has_them() -> None:
    usage = layer_usage(
        {"busybox": ["base"], "app": ["base", "app"], "hello": ["other"]}, SIZES.__getitem__
    )
    assert usage.layers_size == 1037
    assert usage.shared_size == {"busybox": 1000, "app": 1000, "hello": 0}


def test_nothing_is_shared_by_one_image_alone() -> None:
    usage = layer_usage({"app": ["base", "app"]}, SIZES.__getitem__)
    assert (usage.layers_size, usage.shared_size) == (1030, {"app": 0})
    assert layer_usage({}, SIZES.__getitem__).layers_size == 0


def test_listeners_are_counted_until_they_unsubscribe() -> None:
    bus = EventBus()
    assert bus.listener_count == 0
    first, second = bus.subscribe(), bus.subscribe()
    assert bus.listener_count == 2
    bus.unsubscribe(first)
    bus.unsubscribe(first)
    assert bus.listener_count == 1
    bus.unsubscribe(second)
    assert bus.listener_count == 0


@pytest.mark.parametrize(("text", "forwarding"), [("1\n", True), ("0\n", False)])
def test_ipv4_forwarding_is_read_as_the_kernel_says(
    tmp_path: Path, text: str, forwarding: bool
) -> None:
    path = tmp_path / "ip_forward"
    path.write_text(text)
    assert ipv4_forwarding(path) is forwarding
    assert ipv4_forwarding(tmp_path / "missing") is False


def test_a_filesystem_without_a_docker_name_or_a_path_without_one_is_unknown(
    tmp_path: Path,
) -> None:
    assert backing_filesystem("/proc") == UNKNOWN  # proc is no filesystem dockerd names
    assert backing_filesystem(tmp_path / "missing") == UNKNOWN


def test_cgroup_capabilities_are_read_from_the_v1_hierarchies(tmp_path: Path) -> None:
    from ketch.runtime.cgroups import Layout, capabilities

    memory, cpu = tmp_path / "memory", tmp_path / "cpu,cpuacct"
    cpu_files = ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"]
    for directory, files in ((memory, ["memory.limit_in_bytes"]), (cpu, cpu_files)):
        directory.mkdir()
        for name in files:
            (directory / name).write_text("0\n")
    layout = Layout(1, {"memory": str(memory), "cpu,cpuacct": str(cpu)}, None)
    assert capabilities(layout) == {
        "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": False, "PidsLimit": False, "OomKillDisable": False,
    }  # fmt: skip
    (memory / "memory.memsw.limit_in_bytes").write_text("0\n")
    (memory / "memory.oom_control").write_text("0\n")
    found = capabilities(Layout(1, {"memory": str(memory), "pids": str(tmp_path)}, None))
    assert found["SwapLimit"] and found["OomKillDisable"] and found["PidsLimit"]
    assert not found["CPUShares"]


def test_cgroup_capabilities_on_v2_follow_the_root_controllers(tmp_path: Path) -> None:
    from ketch.runtime.cgroups import Layout, capabilities

    (tmp_path / "cgroup.controllers").write_text("cpuset cpu pids\n")
    found = capabilities(Layout(2, {}, str(tmp_path)))
    assert found["CPUSet"] and found["CpuCfsQuota"] and found["PidsLimit"]
    assert not found["MemoryLimit"] and not found["SwapLimit"] and not found["OomKillDisable"]


def test_d_type_is_read_back_from_a_real_directory(tmp_path: Path) -> None:
    from ketch.snapshots.backing import supports_d_type

    # ext4 and tmpfs (where tests run) both fill d_type; the probe leaves nothing behind.
    assert supports_d_type(tmp_path) is True
    assert list(tmp_path.iterdir()) == []
