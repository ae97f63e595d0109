"""`docker stats`: one sample of a container's cgroup in the Engine API's shape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ketch.runtime import cgroups

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def system_cpu_usage() -> int:
    """Host CPU time in nanoseconds, as dockerd reports system_cpu_usage."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu "):
            ticks = sum(int(v) for v in line.split()[1:8])
            return ticks * 1_000_000_000 // CLOCK_TICKS
    return 0


def sample(cgroup: cgroups.Cgroup) -> dict[str, Any]:
    """cpu_stats, memory_stats and pids_stats of one moment, in the shape dockerd gives for the
    host's cgroup version."""
    counters = cgroup.stats()
    cpu = counters.get("cpu") or {}
    memory = counters.get("memory") or {}
    pids = counters.get("pids") or {}
    cpu_usage: dict[str, Any] = {"total_usage": cpu.get("usage_ns", 0)}
    if cgroup.layout.version == 1:
        cpu_usage["percpu_usage"] = cpu.get("percpu_ns") or None
    cpu_usage["usage_in_kernelmode"] = cpu.get("system_ns", 0)
    cpu_usage["usage_in_usermode"] = cpu.get("user_ns", 0)
    memory_stats: dict[str, Any] = {"usage": memory.get("usage", 0)}
    if cgroup.layout.version == 1:
        memory_stats["max_usage"] = memory.get("max_usage", 0)
        memory_stats["failcnt"] = memory.get("failcnt", 0)
    memory_stats["stats"] = memory.get("stats", {})
    memory_stats["limit"] = memory.get("limit") or _host_memory()
    pids_limit = pids.get("limit")
    return {
        "cpu_stats": {
            "cpu_usage": cpu_usage,
            "system_cpu_usage": system_cpu_usage(),
            "online_cpus": os.cpu_count() or 1,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "memory_stats": memory_stats,
        "pids_stats": {
            "current": pids.get("current", 0),
            **({"limit": pids_limit} if pids_limit else {}),
        },
    }


def _host_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def stats_body(
    container_id: str, name: str, now: dict[str, Any], before: dict[str, Any] | None,
    read_at: str, preread_at: str,
) -> dict[str, Any]:  # fmt: skip
    empty_cpu = {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    return {
        "read": read_at,
        "preread": preread_at,
        "id": container_id,
        "name": name,
        "num_procs": 0,
        "pids_stats": now["pids_stats"],
        "cpu_stats": now["cpu_stats"],
        "precpu_stats": before["cpu_stats"] if before else empty_cpu,
        "memory_stats": now["memory_stats"],
        "blkio_stats": {"io_service_bytes_recursive": None, "io_serviced_recursive": None,
                        "io_queue_recursive": None, "io_service_time_recursive": None,
                        "io_wait_time_recursive": None, "io_merged_recursive": None,
                        "io_time_recursive": None, "sectors_recursive": None},
        "storage_stats": {},
        "networks": {},
    }  # fmt: skip
