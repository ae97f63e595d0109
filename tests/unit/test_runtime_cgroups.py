"""Limits as files, on a fake cgroup tree in a temp dir (both layouts; this host has only one)."""

from __future__ import annotations

import os
from pathlib import Path

from ketch.runtime import cgroups

RESOURCES = {
    "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20},
    "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0", "mems": "0"},
    "pids": {"limit": 99},
}


def test_v2_writes_unified_files_and_enables_controllers(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "parent").mkdir()
    (tmp_path / "parent" / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "parent" / "cgroup.subtree_control").write_text("")
    layout = cgroups.Layout(2, {}, str(tmp_path))
    cgroup = cgroups.create("parent", "c1", RESOURCES, layout)
    directory = tmp_path / "parent" / "c1"
    read = lambda name: (directory / name).read_text()  # noqa: E731
    assert cgroup.directories == {"": directory}
    # One write per controller (a plain file keeps the last), so one refusal costs no others.
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpuset"
    assert (tmp_path / "parent" / "cgroup.subtree_control").read_text() == "+cpuset"
    assert read("memory.max") == str(64 << 20)
    assert read("memory.low") == str(32 << 20)
    assert read("cpu.max") == "50000 100000"
    assert read("cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)
    assert read("cpuset.cpus") == "0"
    assert read("pids.max") == "99"
    assert cgroup.procs_files == [str(directory / "cgroup.procs")]
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cgroup.oom_killed()


def test_v1_writes_per_controller_files(tmp_path: Path) -> None:
    mounts = {}
    for key in ("memory", "cpu,cpuacct", "pids", "devices"):
        (tmp_path / key).mkdir()
        mounts[key] = str(tmp_path / key)
    layout = cgroups.Layout(1, mounts, None)
    devices = [{"allow": False, "access": "rwm"}]
    cgroup = cgroups.create("p", "c", {**RESOURCES, "devices": devices}, layout)
    assert (tmp_path / "memory/p/c/memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (tmp_path / "memory/p/c/memory.memsw.limit_in_bytes").exists() is False  # no swap file
    assert (tmp_path / "cpu,cpuacct/p/c/cpu.cfs_quota_us").read_text() == "50000"
    assert (tmp_path / "cpu,cpuacct/p/c/cpu.shares").read_text() == "512"
    assert (tmp_path / "pids/p/c/pids.max").read_text() == "99"
    # A plain file keeps only the last write: the defaults come after the deny-all.
    assert (tmp_path / "devices/p/c/devices.deny").read_text() == "a"
    assert (tmp_path / "devices/p/c/devices.allow").read_text() == cgroups.DEFAULT_ALLOWED_DEVICES[
        -1
    ]
    (tmp_path / "memory/p/c/memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"
    )
    assert not cgroup.oom_killed()
    assert len(cgroup.procs_files) == 4


def test_device_rules() -> None:
    assert (
        cgroups.device_rule({"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
        == "c 1:3 rwm"
    )
    assert (
        cgroups.device_rule({"allow": True, "type": "c", "major": 136, "access": "rw"})
        == "c 136:* rw"
    )
    assert cgroups.device_rule({"allow": False}) == "a"


def test_stats_and_update_on_v2(tmp_path: Path) -> None:
    for directory in (tmp_path, tmp_path / "p"):
        directory.mkdir(exist_ok=True)
        (directory / "cgroup.controllers").write_text("cpu memory pids\n")
        (directory / "cgroup.subtree_control").write_text("")
    layout = cgroups.Layout(2, {}, str(tmp_path))
    cgroup = cgroups.create("p", "c", None, layout)
    directory = tmp_path / "p" / "c"
    (directory / "memory.current").write_text("4096\n")
    (directory / "memory.max").write_text("max\n")
    (directory / "memory.stat").write_text("anon 1024\nfile 2048\n")
    (directory / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\n")
    (directory / "pids.current").write_text("3\n")
    (directory / "pids.max").write_text("max\n")
    assert cgroup.stats() == {
        "memory": {"usage": 4096, "stats": {"anon": 1024, "file": 2048}},
        "cpu": {"usage_ns": 1_500_000, "user_ns": 1_000_000, "system_ns": 0},
        "pids": {"current": 3, "limit": None},
    }
    cgroup.update({"pids": {"limit": 12}, "memory": {"limit": 1 << 20}})
    assert (directory / "pids.max").read_text() == "12"
    assert (directory / "memory.max").read_text() == str(1 << 20)


def test_update_on_v2_rewrites_each_limit_given_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    layout = cgroups.Layout(2, {}, str(tmp_path))
    cgroups.create("", "c", RESOURCES, layout)
    directory = tmp_path / "c"
    (directory / "memory.swap.max").write_text("0\n")  # a kernel with swap accounting
    read = lambda name: (directory / name).read_text()  # noqa: E731
    cgroup = cgroups.load("", "c", layout)
    cgroup.update({"cpu": {"period": 50000}})
    assert read("cpu.max") == "50000 50000"  # the quota kept
    cgroup.update(
        {
            "memory": {"limit": 256 << 20, "swap": 512 << 20},
            "cpu": {"quota": 150000, "period": 200000, "shares": 1024, "cpus": "0-1"},
            "pids": {"limit": 20},
            "devices": [{"allow": False, "access": "rwm"}],
        }
    )
    assert read("memory.max") == str(256 << 20)
    assert read("memory.swap.max") == str(256 << 20)  # v2 counts swap apart from memory
    assert read("cpu.max") == "150000 200000"
    assert read("cpu.weight") == str(1 + ((1024 - 2) * 9999) // 262142)
    assert read("cpuset.cpus") == "0-1"
    assert read("pids.max") == "20"
    cgroup.update({"cpu": {"quota": -1}, "pids": {"limit": -1}, "memory": {"limit": -1}})
    assert read("cpu.max") == "max 200000"
    assert read("pids.max") == "max"
    assert read("memory.max") == "max"


def test_stats_on_v1_read_each_controllers_hierarchy(tmp_path: Path) -> None:
    mounts = {key: str(tmp_path / key) for key in ("memory", "cpu,cpuacct", "pids")}
    layout = cgroups.Layout(1, mounts, None)
    cgroups.create("p", "c", None, layout)
    files = {
        "memory/p/c/memory.usage_in_bytes": "8192",
        "memory/p/c/memory.limit_in_bytes": str((1 << 63) - 4096),  # no limit
        "memory/p/c/memory.max_usage_in_bytes": "9000",
        "memory/p/c/memory.failcnt": "2",
        "memory/p/c/memory.stat": "cache 4096\nrss 4096\n",
        "cpu,cpuacct/p/c/cpuacct.usage": "5000",
        "cpu,cpuacct/p/c/cpuacct.usage_percpu": "3000 2000 \n",
        "cpu,cpuacct/p/c/cpuacct.stat": "user 3\nsystem 1\n",
        "pids/p/c/pids.current": "2",
        "pids/p/c/pids.max": "max",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert cgroups.load("p", "c", layout).stats() == {
        "memory": {"usage": 8192, "max_usage": 9000, "failcnt": 2,
                   "stats": {"cache": 4096, "rss": 4096}},
        "cpu": {"usage_ns": 5000, "percpu_ns": [3000, 2000], "user_ns": 3 * tick_ns,
                "system_ns": tick_ns},
        "pids": {"current": 2, "limit": None},
    }  # fmt: skip


def test_v2_controllers_already_enabled_are_not_written_again(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory pids\n")
    cgroups.create("", "c", None, cgroups.Layout(2, {}, str(tmp_path)))
    assert (tmp_path / "cgroup.subtree_control").read_text() == "cpu memory pids\n"


def test_v1_real_time_cpu_time_raises_the_ancestors_share(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu,cpuacct"
    (cpu / "p").mkdir(parents=True)
    (cpu / "cpu.rt_runtime_us").write_text("950000\n")
    (cpu / "p" / "cpu.rt_period_us").write_text("1000000\n")
    (cpu / "p" / "cpu.rt_runtime_us").write_text("0\n")
    layout = cgroups.Layout(1, {"cpu,cpuacct": str(cpu)}, None)
    resources = {"cpu": {"realtimePeriod": 150000, "realtimeRuntime": 40000}}
    cgroups.create("p", "c", resources, layout)
    assert (cpu / "c").exists() is False
    assert (cpu / "p/c/cpu.rt_period_us").read_text() == "150000"
    assert (cpu / "p/c/cpu.rt_runtime_us").read_text() == "40000"
    # 40000 of every 150000 us is 266667 of the parent's 1000000; the root is left alone
    assert (cpu / "p/cpu.rt_runtime_us").read_text() == "266667"
    assert (cpu / "cpu.rt_runtime_us").read_text() == "950000\n"
    assert cgroups.realtime_supported(layout)
    assert not cgroups.realtime_supported(cgroups.Layout(2, {}, str(tmp_path)))
