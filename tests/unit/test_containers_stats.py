"""docker stats' sample, from the runtime's cgroup counters, in dockerd's shape for each version."""

from __future__ import annotations

import os
from pathlib import Path

from ketch.containers import stats
from ketch.runtime import cgroups


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")


def without_host_values(sample: dict) -> dict:
    sample["cpu_stats"].pop("system_cpu_usage")
    return sample


def test_v1_sample(tmp_path: Path) -> None:
    mounts = {key: str(tmp_path / key) for key in ("memory", "cpuacct", "pids")}
    write(tmp_path, {
        "memory/p/c/memory.usage_in_bytes": "8192",
        "memory/p/c/memory.limit_in_bytes": str(64 << 20),
        "memory/p/c/memory.max_usage_in_bytes": "9000",
        "memory/p/c/memory.failcnt": "2",
        "memory/p/c/memory.stat": "cache 4096\nrss 4096",
        "cpuacct/p/c/cpuacct.usage": "5000",
        "cpuacct/p/c/cpuacct.usage_percpu": "3000 2000",
        "cpuacct/p/c/cpuacct.stat": "user 3\nsystem 1",
        "pids/p/c/pids.current": "2",
        "pids/p/c/pids.max": "50",
    })  # fmt: skip
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    sample = stats.sample(cgroups.load("p", "c", cgroups.Layout(1, mounts, None)))
    assert without_host_values(sample) == {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 5000, "percpu_usage": [3000, 2000],
                          "usage_in_kernelmode": tick_ns, "usage_in_usermode": 3 * tick_ns},
            "online_cpus": os.cpu_count(),
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "memory_stats": {"usage": 8192, "max_usage": 9000, "failcnt": 2,
                         "stats": {"cache": 4096, "rss": 4096}, "limit": 64 << 20},
        "pids_stats": {"current": 2, "limit": 50},
    }  # fmt: skip


def test_v2_sample_without_limits_shows_the_hosts_memory(tmp_path: Path) -> None:
    write(tmp_path, {
        "p/c/memory.current": "4096",
        "p/c/memory.max": "max",
        "p/c/memory.peak": "8192",  # not in dockerd's v2 sample
        "p/c/memory.stat": "anon 1024",
        "p/c/cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500",
        "p/c/pids.current": "1",
        "p/c/pids.max": "max",
    })  # fmt: skip
    sample = stats.sample(cgroups.load("p", "c", cgroups.Layout(2, {}, str(tmp_path))))
    host_memory = stats._host_memory()
    assert host_memory > 0
    assert without_host_values(sample) == {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 1_500_000, "usage_in_kernelmode": 500_000,
                          "usage_in_usermode": 1_000_000},
            "online_cpus": os.cpu_count(),
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "memory_stats": {"usage": 4096, "stats": {"anon": 1024}, "limit": host_memory},
        "pids_stats": {"current": 1},
    }  # fmt: skip


def test_a_cgroup_that_is_gone_samples_as_zeros(tmp_path: Path) -> None:
    layout = cgroups.Layout(1, {"memory": str(tmp_path / "memory")}, None)
    sample = without_host_values(stats.sample(cgroups.load("p", "gone", layout)))
    assert sample["cpu_stats"]["cpu_usage"] == {
        "total_usage": 0, "percpu_usage": None, "usage_in_kernelmode": 0, "usage_in_usermode": 0,
    }  # fmt: skip
    assert sample["memory_stats"]["usage"] == 0
    assert sample["pids_stats"] == {"current": 0}
