"""HostConfig checks dockerd makes at create, with its words."""

from __future__ import annotations

import os
from typing import Any

from ketch.errors import InvalidArgument, NotImplementedYet
from ketch.runtime import cgroups

MIN_MEMORY = 6 * 1024 * 1024
# dockerd's built-in log drivers: a name outside these is not a driver at all (400),
# one of them ketch just does not have yet (501).
DOCKER_LOG_DRIVERS = frozenset({
    "json-file", "none", "local", "syslog", "journald", "gelf", "fluentd", "awslogs",
    "splunk", "etwlogs", "gcplogs", "logentries",
})  # fmt: skip
# The runtime names `docker info` lists (dockerd 20.10's), all of them ketch's one runtime;
# "runc" is the default.
RUNTIMES = ("io.containerd.runc.v2", "io.containerd.runtime.v1.linux", "runc")


def validate(host_config: dict[str, Any], realtime: bool | None = None) -> None:
    """Raise dockerd's error for the first thing it would refuse; `realtime` says whether the
    host's cgroups have real-time CPU time (looked up only when a container asks for it)."""
    check_realtime(host_config, realtime)
    isolation = host_config.get("Isolation") or ""
    if isolation.lower() not in ("", "default"):
        raise InvalidArgument(
            f"Invalid isolation: \"{isolation}\" - linux only supports 'default'"
        )
    runtime = host_config.get("Runtime") or ""
    if runtime and runtime not in RUNTIMES:
        raise InvalidArgument(f"Unknown runtime specified {runtime}")
    memory = host_config.get("Memory") or 0
    if memory < 0 or 0 < memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    swap = host_config.get("MemorySwap") or 0
    if swap > 0 and memory > 0 and swap < memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    reservation = host_config.get("MemoryReservation") or 0
    if reservation < 0 or 0 < reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    swappiness = host_config.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidArgument(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100"
        )
    shares = host_config.get("CpuShares") or 0
    if shares < 0:  # the kernel refuses it later, as a start or update failure
        raise InvalidArgument(f"invalid CPU shares ({shares}): value must be a positive integer")
    blkio = host_config.get("BlkioWeight") or 0
    if blkio and not 10 <= blkio <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    nano = host_config.get("NanoCpus") or 0
    if nano:
        if host_config.get("CpuQuota"):
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        if host_config.get("CpuPeriod"):
            raise InvalidArgument(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set"
            )
        cpus = os.cpu_count() or 1
        if nano < 0 or nano > cpus * 1_000_000_000:
            raise InvalidArgument(
                f"Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            )
    period = host_config.get("CpuPeriod") or 0
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    quota = host_config.get("CpuQuota") or 0
    if 0 < quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    log_type = (host_config.get("LogConfig") or {}).get("Type") or "json-file"
    if log_type not in ("json-file", "none"):
        if log_type not in DOCKER_LOG_DRIVERS:
            raise InvalidArgument(f"logger: no log driver named {log_type!r} is registered")
        raise NotImplementedYet(f"logging driver {log_type!r} is not supported by ketch yet")
    for key, what in (("PidMode", "pid mode"), ("IpcMode", "ipc mode"),
                      ("UTSMode", "uts mode")):  # fmt: skip
        value = host_config.get(key) or ""
        if key in ("PidMode", "IpcMode") and value.startswith("container:") and value[10:]:
            continue  # joined at start
        if key == "IpcMode" and value == "shareable":
            continue  # a private namespace others may join
        if value not in ("", "default", "bridge", "private", "none", "host"):
            raise NotImplementedYet(f"{what} {value!r} is not supported by ketch yet")


def check_realtime(host_config: dict[str, Any], supported: bool | None = None) -> None:
    period = host_config.get("CpuRealtimePeriod") or 0
    runtime = host_config.get("CpuRealtimeRuntime") or 0
    if period <= 0 and runtime <= 0:
        return
    if supported is None:
        supported = cgroups.realtime_supported()
    if period > 0 and not supported:
        raise InvalidArgument("Your kernel does not support cgroup cpu real-time period")
    if runtime > 0 and not supported:
        raise InvalidArgument("Your kernel does not support cgroup cpu real-time runtime")
    if period and runtime and runtime > period:
        raise InvalidArgument("cpu real-time runtime cannot be higher than cpu real-time period")
