"""`docker top`: the container's processes, read from its cgroup and /proc (no ps run)."""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path
from typing import Any

from ketch.errors import InvalidArgument

TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def container_pids(cgroup_parent: str, container_id: str) -> list[int]:
    from ketch.runtime.cgroups import detect_layout

    layout = detect_layout()
    relative = Path(cgroup_parent.strip("/")) / container_id
    bases = list(layout.v1_mounts.values()) if layout.version == 1 else [layout.v2_mount or ""]
    pids: set[int] = set()
    for base in bases:
        try:
            text = (Path(base) / relative / "cgroup.procs").read_text()
        except OSError:
            continue
        pids.update(int(p) for p in text.split())
    return sorted(pids)


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def _row(pid: int, boot: float) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    ppid = fields[1]
    cpu_seconds = (int(fields[11]) + int(fields[12])) // CLOCK_TICKS
    start = boot + int(fields[19]) / CLOCK_TICKS
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    tty_nr = int(fields[4])
    tty = "?" if tty_nr == 0 else f"pts/{os.minor(tty_nr)}"
    hours, rest = divmod(cpu_seconds, 3600)
    command = " ".join(p.decode(errors="replace") for p in cmdline.split(b"\0") if p)
    return [
        user,
        str(pid),
        ppid,
        "0",
        time.strftime("%H:%M", time.localtime(start)),
        tty,
        f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
        command or f"[{comm}]",
    ]


def top(cgroup_parent: str, container_id: str, ps_args: str = "") -> dict[str, Any]:
    if ps_args and ps_args.strip() not in ("-ef", "-f", "aux"):
        raise InvalidArgument(f"ps arguments {ps_args!r} are not supported by ketch")
    boot = _boot_time()
    rows = [row for pid in container_pids(cgroup_parent, container_id) if (row := _row(pid, boot))]
    return {"Titles": TITLES, "Processes": rows}
