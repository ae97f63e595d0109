"""A container's cgroups: v1 (one directory per controller hierarchy) or v2 (one directory).

The layout is read from /proc/self/mountinfo. On a hybrid host the v1
controllers are used and the cgroup2 mount (holding few or no controllers) is
left alone, as runc does.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

# v1 memory.limit_in_bytes with no limit set reads as the largest page-aligned int64.
V1_UNLIMITED = 1 << 62


class Layout(NamedTuple):  # not a dataclass: the fork server must not import dataclasses
    version: int  # 1 or 2
    # v1: hierarchy key (its controllers joined by ",", or "name=systemd") -> mount point.
    v1_mounts: dict[str, str]
    v2_mount: str | None


def parse_mountinfo(text: str) -> Layout:
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        fields = line.split()
        if " - " not in line:
            continue
        dash = fields.index("-")
        fstype, super_options = fields[dash + 1], fields[dash + 3]
        mount_point = fields[4]
        if fstype == "cgroup2":
            v2 = v2 or mount_point
        elif fstype == "cgroup":
            known = [
                opt
                for opt in super_options.split(",")
                if opt not in ("rw", "ro") and not opt.startswith(("release_agent", "clone_"))
            ]
            key = ",".join(sorted(known))
            if key:
                v1.setdefault(key, mount_point)
    return Layout(1 if v1 else 2, v1, v2)


def detect_layout() -> Layout:
    with open("/proc/self/mountinfo") as f:
        return parse_mountinfo(f.read())


def _write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        if exc.filename is None:  # the kernel refused the value at write(): say where
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _read_number(path: Path) -> int | None:
    """An integer control file; None for "max" (no limit) or a file this kernel lacks."""
    try:
        text = _read(path).strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def _read_flat_keyed(path: Path) -> dict[str, int]:
    try:
        lines = _read(path).splitlines()
    except OSError:
        return {}
    result = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            result[key] = int(value)
    return result


def _mkdir_cpuset(base: Path, relative: Path) -> None:
    """New v1 cpuset directories start empty and refuse tasks: copy the parent's cpus and mems."""
    current = base
    for part in relative.parts:
        parent, current = current, current / part
        if not current.exists():
            current.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not _read(current / name).strip():
                _write(current / name, _read(parent / name).strip())


class Cgroup:
    """The directories of one container's cgroup, with its limits applied."""

    def __init__(self, layout: Layout, directories: dict[str, Path]) -> None:
        self.layout = layout
        self.directories = directories  # hierarchy key -> directory ("" for v2)

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.directories.values()]

    def add(self, pid: int) -> None:
        """Move `pid` (0: the writing process itself) into every hierarchy of this cgroup."""
        for path in self.procs_files:
            _write(Path(path), str(pid))

    def _memory_dir(self) -> Path | None:
        if self.layout.version == 2:
            return self.directories.get("")
        for key, directory in self.directories.items():
            if "memory" in key.split(","):
                return directory
        return None

    def oom_killed(self) -> bool:
        directory = self._memory_dir()
        if directory is None:
            return False
        name = "memory.events" if self.layout.version == 2 else "memory.oom_control"
        try:
            for line in _read(directory / name).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
        except (OSError, ValueError):
            return False
        return False

    def oom_file(self) -> str | None:
        """The file `oom_killed` reads (for the shim's monitor, which reads it itself)."""
        directory = self._memory_dir()
        if directory is None:
            return None
        name = "memory.events" if self.layout.version == 2 else "memory.oom_control"
        return str(directory / name)

    def freezer_dir(self) -> str | None:
        """The directory `freeze` writes in: v2's cgroup.freeze, v1's freezer.state."""
        directory = self.directories[""] if self.layout.version == 2 else _dir_for(self, "freezer")
        return None if directory is None else str(directory)

    def freeze(self, frozen: bool) -> None:
        """docker pause/unpause: stop or resume every process of the cgroup, and wait until done."""
        if self.layout.version == 2:
            directory = self.directories[""]
            _write(directory / "cgroup.freeze", "1" if frozen else "0")
            wanted = f"frozen {1 if frozen else 0}"
            events = directory / "cgroup.events"

            def check() -> bool:
                return wanted in _read(events).splitlines()
        else:
            freezer = _dir_for(self, "freezer")
            if freezer is None:
                raise OSError(errno.ENOTSUP, "no freezer cgroup hierarchy")
            state = "FROZEN" if frozen else "THAWED"
            _write(freezer / "freezer.state", state)

            def check() -> bool:
                return _read(freezer / "freezer.state").strip() == state

        deadline = time.monotonic() + 5
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("the cgroup did not reach its freezer state")
            time.sleep(0.001)

    def update(self, resources: dict[str, Any]) -> None:
        """docker update: apply runtime-spec resources (memory, cpu, cpuset, pids) to the
        running container's cgroup. Devices are not updated, as by runc update: rewriting
        them would drop, for a moment or for good, devices the container was given."""
        _apply(self, {key: value for key, value in resources.items() if key != "devices"})

    def stats(self) -> dict[str, Any]:
        """Raw counters for docker stats: memory (bytes), cpu (ns), pids; absent ones omitted,
        and so is a limit that is not set."""
        v2 = self.layout.version == 2
        result: dict[str, Any] = {}
        memory_dir = self._memory_dir()
        if memory_dir is not None:
            names = (
                ("memory.current", "memory.max", "memory.peak", None)
                if v2
                else (
                    "memory.usage_in_bytes",
                    "memory.limit_in_bytes",
                    "memory.max_usage_in_bytes",
                    "memory.failcnt",
                )
            )
            memory: dict[str, Any] = {}
            keys = ("usage", "limit", "max_usage", "failcnt")
            for key, name in zip(keys, names, strict=True):
                value = _read_number(memory_dir / name) if name else None
                if value is not None and not (key == "limit" and value >= V1_UNLIMITED):
                    memory[key] = value
            memory["stats"] = _read_flat_keyed(memory_dir / "memory.stat")
            result["memory"] = memory
        cpu_dir = _dir_for(self, "cpu" if v2 else "cpuacct")
        if cpu_dir is not None:
            if v2:
                usage = _read_flat_keyed(cpu_dir / "cpu.stat")
                result["cpu"] = {
                    "usage_ns": usage.get("usage_usec", 0) * 1000,
                    "user_ns": usage.get("user_usec", 0) * 1000,
                    "system_ns": usage.get("system_usec", 0) * 1000,
                }
            else:
                try:
                    percpu = [int(x) for x in _read(cpu_dir / "cpuacct.usage_percpu").split()]
                except OSError:
                    percpu = []
                ticks = _read_flat_keyed(cpu_dir / "cpuacct.stat")  # in USER_HZ
                tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
                result["cpu"] = {
                    "usage_ns": _read_number(cpu_dir / "cpuacct.usage") or 0,
                    "percpu_ns": percpu,
                    "user_ns": ticks.get("user", 0) * tick_ns,
                    "system_ns": ticks.get("system", 0) * tick_ns,
                }
        pids_dir = _dir_for(self, "pids")
        if pids_dir is not None:
            result["pids"] = {
                "current": _read_number(pids_dir / "pids.current") or 0,
                "limit": _read_number(pids_dir / "pids.max"),
            }
        return result

    def pids(self) -> list[int]:
        result: set[int] = set()
        for path in self.procs_files:
            try:
                result.update(int(p) for p in _read(Path(path)).split())
            except OSError:
                continue
        return sorted(result)

    def remove(self, timeout: float = 2.0) -> None:
        """rmdir every directory; a cgroup empties a moment after its last process is reaped."""
        deadline = time.monotonic() + timeout
        for directory in self.directories.values():
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)


def load(parent: str, container_id: str, layout: Layout | None = None) -> Cgroup:
    """An existing container cgroup, as `create` made it, without touching its limits."""
    layout = layout or detect_layout()
    relative = Path(parent.strip("/")) / container_id
    if layout.version == 1:
        directories = {k: Path(m) / relative for k, m in layout.v1_mounts.items()}
    else:
        directories = {"": Path(str(layout.v2_mount)) / relative}
    return Cgroup(layout, directories)


def create(
    parent: str, container_id: str, resources: dict[str, Any] | None, layout: Layout | None = None
) -> Cgroup:
    """Make `<parent>/<container_id>` in every hierarchy; apply runtime-spec `linux.resources`."""
    layout = layout or detect_layout()
    relative = Path(parent.strip("/")) / container_id
    directories: dict[str, Path] = {}
    if layout.version == 1:
        for key, mount_point in layout.v1_mounts.items():
            base = Path(mount_point)
            if "cpuset" in key.split(","):
                _mkdir_cpuset(base, relative)
            else:
                (base / relative).mkdir(parents=True, exist_ok=True)
            directories[key] = base / relative
    else:
        assert layout.v2_mount is not None, "no cgroup2 mount found"
        base = Path(layout.v2_mount)
        _enable_v2_controllers(base, relative)
        directories[""] = base / relative
    cgroup = Cgroup(layout, directories)
    try:
        _apply(cgroup, resources or {})
    except Exception:
        cgroup.remove()
        raise
    return cgroup


def _enable_v2_controllers(base: Path, relative: Path) -> None:
    current = base
    for part in relative.parts:
        available = _read(current / "cgroup.controllers").split()
        enabled = _read(current / "cgroup.subtree_control").split()
        for controller in ("cpu", "memory", "pids", "io", "cpuset"):
            if controller in available and controller not in enabled:
                try:
                    _write(current / "cgroup.subtree_control", f"+{controller}")
                except OSError:
                    pass  # one refused controller must not cost the others; its limits fail below
        current = current / part
        current.mkdir(exist_ok=True)


def _dir_for(cgroup: Cgroup, controller: str) -> Path | None:
    if cgroup.layout.version == 2:
        return cgroup.directories[""]
    for key, directory in cgroup.directories.items():
        if controller in key.split(","):
            return directory
    return None


def _apply(cgroup: Cgroup, resources: dict[str, Any]) -> None:
    """Write runtime-spec `linux.resources` into the cgroup's files; values not given are left
    as they are, and -1 (memory, swap, cpu quota, pids) means no limit."""
    memory = resources.get("memory") or {}
    cpu = resources.get("cpu") or {}
    pids = resources.get("pids") or {}
    v2 = cgroup.layout.version == 2
    mem_dir = _dir_for(cgroup, "memory")
    if mem_dir is not None and memory.get("limit"):
        _apply_memory(mem_dir, v2, int(memory["limit"]), memory.get("swap"))
    cpu_dir = _dir_for(cgroup, "cpu")
    if cpu_dir is not None:
        quota, period = cpu.get("quota"), cpu.get("period")
        if v2:
            if quota or period:
                _write(cpu_dir / "cpu.max", _v2_cpu_max(cpu_dir, quota, period))
            if cpu.get("shares"):
                # The conversion runc and crun use from v1 shares to v2 weight.
                shares = int(cpu["shares"])
                weight = 1 + ((shares - 2) * 9999) // 262142
                _write(cpu_dir / "cpu.weight", str(max(1, min(weight, 10000))))
        else:
            if period:
                _write(cpu_dir / "cpu.cfs_period_us", str(period))
            if quota:
                _write(cpu_dir / "cpu.cfs_quota_us", str(-1 if quota < 0 else quota))
            if cpu.get("shares"):
                _write(cpu_dir / "cpu.shares", str(cpu["shares"]))
            if cpu.get("realtimePeriod") or cpu.get("realtimeRuntime"):
                _apply_realtime_v1(cgroup, cpu_dir, cpu.get("realtimePeriod"),
                                   cpu.get("realtimeRuntime"))  # fmt: skip
    if mem_dir is not None and memory.get("reservation"):
        name = "memory.low" if v2 else "memory.soft_limit_in_bytes"
        _write(mem_dir / name, str(int(memory["reservation"])))
    cpuset_dir = _dir_for(cgroup, "cpuset")
    if cpuset_dir is not None:
        for key in ("cpus", "mems"):
            if cpu.get(key):
                _write(cpuset_dir / f"cpuset.{key}", str(cpu[key]))
    devices_dir = _dir_for(cgroup, "devices") if not v2 else None
    if devices_dir is not None and resources.get("devices") is not None:
        _apply_devices_v1(devices_dir, list(resources["devices"]))
    pids_dir = _dir_for(cgroup, "pids")
    if pids_dir is not None and pids.get("limit"):
        limit = int(pids["limit"])
        _write(pids_dir / "pids.max", str(limit) if limit > 0 else "max")


def _apply_realtime_v1(
    cgroup: Cgroup, directory: Path, period: int | None, runtime: int | None
) -> None:
    """cpu.rt_period_us and cpu.rt_runtime_us, the period first as runc writes them. A new
    cgroup's ancestors below the root have no real-time time of their own (0) and the kernel
    refuses a child more than its parent's share: each is raised to the share asked for."""
    if period:
        _write(directory / "cpu.rt_period_us", str(period))
    if not runtime:
        return
    own_period = _read_number(directory / "cpu.rt_period_us") or 1_000_000
    root = next((Path(mount) for key, mount in cgroup.layout.v1_mounts.items()
                 if "cpu" in key.split(",")), None)  # fmt: skip
    if root is not None and runtime > 0:
        ancestors = directory.relative_to(root).parents  # nearest first, "." last
        for relative in reversed(list(ancestors)[:-1]):  # the root's share is the host's
            ancestor = root / relative
            ancestor_period = _read_number(ancestor / "cpu.rt_period_us") or 1_000_000
            needed = -(-runtime * ancestor_period // own_period)
            if (_read_number(ancestor / "cpu.rt_runtime_us") or 0) < needed:
                _write(ancestor / "cpu.rt_runtime_us", str(needed))
    _write(directory / "cpu.rt_runtime_us", str(runtime))


def realtime_supported(layout: Layout | None = None) -> bool:
    """Whether containers can have real-time CPU time: only cgroup v1 has it, and only a
    kernel built with real-time group scheduling has its files (dockerd's sysinfo check)."""
    layout = layout or detect_layout()
    return layout.version == 1 and any(
        (Path(mount) / "cpu.rt_runtime_us").exists()
        for key, mount in layout.v1_mounts.items()
        if "cpu" in key.split(",")
    )


def _apply_memory(directory: Path, v2: bool, limit: int, swap: int | None) -> None:
    """Memory and memory+swap limits; on v1 in the order the kernel takes on a live cgroup,
    where the limit must stay at most memsw at every step (so raising both writes memsw
    first, lowering both the limit first, as runc does)."""
    if v2:
        _write(directory / "memory.max", "max" if limit < 0 else str(limit))
        if swap is not None and (directory / "memory.swap.max").exists():
            unlimited = swap < 0 or limit < 0
            _write(directory / "memory.swap.max", "max" if unlimited else str(max(swap - limit, 0)))
        return
    limit_file = directory / "memory.limit_in_bytes"
    memsw_file = directory / "memory.memsw.limit_in_bytes"
    writes = [(limit_file, -1 if limit < 0 else limit)]
    if swap is not None and memsw_file.exists():
        memsw = -1 if swap < 0 else swap
        current = _read_number(limit_file)
        if memsw == -1 or (current is not None and current < memsw):
            writes.insert(0, (memsw_file, memsw))
        else:
            writes.append((memsw_file, memsw))
    for path, value in writes:
        _write(path, str(value))


def _v2_cpu_max(directory: Path, quota: int | None, period: int | None) -> str:
    """cpu.max's "<quota|max> <period>": what is not given is kept from the file."""
    try:
        current_quota, _, current_period = _read(directory / "cpu.max").partition(" ")
    except OSError:
        current_quota, current_period = "max", ""
    if quota:
        quota_text = "max" if quota < 0 else str(quota)
    else:
        quota_text = current_quota.strip() or "max"
    period_text = str(period) if period else current_period.strip() or "100000"
    return f"{quota_text} {period_text}"


def exists(path: str) -> bool:
    return os.path.isdir(path)


# What runc always allows on top of linux.resources.devices, so a container
# whose spec only says "deny all" still has its /dev nodes and terminals.
DEFAULT_ALLOWED_DEVICES = (
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts
    "c 10:200 rwm",  # net/tun
    "c *:* m",
    "b *:* m",
)


def device_rule(entry: dict[str, Any]) -> str:
    """`c 1:3 rwm` from a runtime-spec device cgroup entry."""
    kind = entry.get("type") or "a"
    if kind == "a":
        return "a"

    def number(key: str) -> str:
        value = entry.get(key)
        return "*" if value is None or value < 0 else str(value)

    return f"{kind} {number('major')}:{number('minor')} {entry.get('access') or 'rwm'}"


def _apply_devices_v1(directory: Path, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        name = "devices.allow" if entry.get("allow") else "devices.deny"
        _write(directory / name, device_rule(entry))
    if not all(entry.get("allow") and (entry.get("type") or "a") == "a" for entry in entries):
        for rule in DEFAULT_ALLOWED_DEVICES:
            _write(directory / "devices.allow", rule)


def capabilities(layout: Layout | None = None) -> dict[str, bool]:
    """What this host's cgroups can limit, under the names `docker info` gives them: read
    from the hierarchies' own control files, as dockerd's sysinfo does."""
    layout = layout or detect_layout()
    if layout.version == 2:
        root = Path(layout.v2_mount or "/sys/fs/cgroup")
        try:
            controllers = set((root / "cgroup.controllers").read_text().split())
        except OSError:
            controllers = set()
        swap = "memory" in controllers and Path("/proc/swaps").read_text().count("\n") > 1
        return {
            "MemoryLimit": "memory" in controllers,
            "SwapLimit": swap,
            "CpuCfsPeriod": "cpu" in controllers,
            "CpuCfsQuota": "cpu" in controllers,
            "CPUShares": "cpu" in controllers,
            "CPUSet": "cpuset" in controllers,
            "PidsLimit": "pids" in controllers,
            "OomKillDisable": False,  # cgroup v2 has no such switch
        }

    def has(controller: str, control_file: str) -> bool:
        for key, mount in layout.v1_mounts.items():
            if controller in key.split(","):
                return (Path(mount) / control_file).exists() if control_file else True
        return False

    return {
        "MemoryLimit": has("memory", "memory.limit_in_bytes"),
        "SwapLimit": has("memory", "memory.memsw.limit_in_bytes"),
        "CpuCfsPeriod": has("cpu", "cpu.cfs_period_us"),
        "CpuCfsQuota": has("cpu", "cpu.cfs_quota_us"),
        "CPUShares": has("cpu", "cpu.shares"),
        "CPUSet": has("cpuset", "cpuset.cpus"),
        "PidsLimit": has("pids", ""),
        "OomKillDisable": has("memory", "memory.oom_control"),
    }
