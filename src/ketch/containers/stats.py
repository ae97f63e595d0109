"""`docker stats`: one sample of a container's cgroup in the Engine API's shape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
UNLIMITED = 1 << 62


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_kv(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                values[key] = int(value)
    except OSError:
        pass
    return values


def system_cpu_usage() -> int:
    """Host CPU time in nanoseconds, as dockerd reports system_cpu_usage."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu "):
            ticks = sum(int(v) for v in line.split()[1:8])
            return ticks * 1_000_000_000 // CLOCK_TICKS
    return 0


class CgroupPaths:
    """Where one container's controllers live (v1 hierarchies or the v2 directory)."""

    def __init__(self, cgroup_parent: str, container_id: str) -> None:
        from ketch.runtime.cgroups import detect_layout

        layout = detect_layout()
        relative = Path(cgroup_parent.strip("/")) / container_id
        self.version = layout.version
        self.dirs: dict[str, Path] = {}
        if layout.version == 1:
            for key, mount in layout.v1_mounts.items():
                for controller in key.split(","):
                    self.dirs[controller] = Path(mount) / relative
        else:
            self.dirs["unified"] = Path(layout.v2_mount or "/sys/fs/cgroup") / relative

    def get(self, controller: str) -> Path:
        return self.dirs.get(controller) or self.dirs.get("unified") or Path("/nonexistent")


def sample(paths: CgroupPaths) -> dict[str, Any]:
    """cpu_stats, memory_stats and pids_stats of one moment."""
    online = os.cpu_count() or 1
    if paths.version == 1:
        cpuacct = paths.get("cpuacct")
        total = _read_int(cpuacct / "cpuacct.usage") or 0
        try:
            percpu = [int(v) for v in (cpuacct / "cpuacct.usage_percpu").read_text().split()]
        except OSError:
            percpu = []
        times = _read_kv(cpuacct / "cpuacct.stat")
        tick_ns = 1_000_000_000 // CLOCK_TICKS
        cpu_usage = {"total_usage": total, "percpu_usage": percpu or None,
                     "usage_in_kernelmode": times.get("system", 0) * tick_ns,
                     "usage_in_usermode": times.get("user", 0) * tick_ns}  # fmt: skip
        memory_dir = paths.get("memory")
        stats = _read_kv(memory_dir / "memory.stat")
        limit = _read_int(memory_dir / "memory.limit_in_bytes")
        memory = {
            "usage": _read_int(memory_dir / "memory.usage_in_bytes") or 0,
            "max_usage": _read_int(memory_dir / "memory.max_usage_in_bytes") or 0,
            "failcnt": _read_int(memory_dir / "memory.failcnt") or 0,
            "stats": stats,
            "limit": limit if limit and limit < UNLIMITED else _host_memory(),
        }
        pids_dir = paths.get("pids")
    else:
        unified = paths.get("unified")
        cpu = _read_kv(unified / "cpu.stat")
        cpu_usage = {"total_usage": cpu.get("usage_usec", 0) * 1000,
                     "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000,
                     "usage_in_usermode": cpu.get("user_usec", 0) * 1000}  # fmt: skip
        limit = _read_int(unified / "memory.max")
        memory = {
            "usage": _read_int(unified / "memory.current") or 0,
            "stats": _read_kv(unified / "memory.stat"),
            "limit": limit or _host_memory(),
        }
        pids_dir = unified
    pids_limit = _read_int(pids_dir / "pids.max")
    return {
        "cpu_stats": {
            "cpu_usage": cpu_usage,
            "system_cpu_usage": system_cpu_usage(),
            "online_cpus": online,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },  # fmt: skip
        "memory_stats": memory,
        "pids_stats": {
            "current": _read_int(pids_dir / "pids.current") or 0,
            **({"limit": pids_limit} if pids_limit else {}),
        },  # fmt: skip
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
