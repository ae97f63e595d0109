"""Memory per running container: the monitor process each container costs.

Starts its own registry and ketchd, runs N `busybox sleep` containers, and
sums the proportional set size (PSS, shared pages split fairly) of their
ketch shims. With BENCH_DOCKER_HOST set (e.g. from bench/dockerd.sh) the same
N containers run under dockerd and its containerd shims are measured too.

    .venv/bin/python bench/memory_per_container.py [-n 10]    # as root
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ketch.testing import images
from ketch.testing.daemon import run_daemon
from ketch.testing.registry import run_registry


def rollup_kib(pids: list[int], field: str = "Pss") -> int:
    """The sum of one smaps_rollup field (Pss, Private_Dirty...) over `pids`."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith(f"{field}:"))
        except FileNotFoundError:
            continue
    return total


def pss_kib(pids: list[int]) -> int:
    return rollup_kib(pids, "Pss")


def report(label: str, pids: list[int]) -> float:
    """Prints PSS and private dirty per process; returns PSS per process in KiB."""
    n = max(len(pids), 1)
    pss, private = rollup_kib(pids, "Pss") / n, rollup_kib(pids, "Private_Dirty") / n
    print(f"{label} {pss / 1024:5.2f} MiB PSS, {private / 1024:5.2f} MiB private dirty "
          f"per container ({len(pids)})")  # fmt: skip
    return pss


def pids_named(comm: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == comm:
                        found.append(int(entry))
            except OSError:
                continue
    return found


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cmdline: str  # arguments joined by spaces: a shim's title reads as ps shows it
    pid_ns: str


def process_table() -> dict[int, Proc]:
    """Every process now, read once from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            pid_ns = os.readlink(f"/proc/{entry}/ns/pid")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or a kernel thread
        table[int(entry)] = Proc(int(entry), ppid, cmdline, pid_ns)
    return table


def engine_pids(roots: list[int], is_shim: Callable[[Proc], bool]) -> list[int]:
    """An engine's processes: its daemons (`roots`) and their descendants, and the shims
    (reparented away from the daemon) with theirs, but not the containers' own processes,
    which live in PID namespaces of their own."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    own_ns = os.readlink("/proc/self/ns/pid")
    todo = [pid for pid in roots if pid in table]
    todo += [proc.pid for proc in table.values() if is_shim(proc)]
    found: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in found or table[pid].pid_ns != own_ns:
            continue
        found.add(pid)
        todo += children.get(pid, [])
    return sorted(found)


def shims_under(root: Path) -> list[int]:
    """The ketch shims whose log (their stdout) is under `root`: this run's daemon's, not those
    of other daemons on the machine."""
    found = []
    for pid in pids_named("ketch-shim"):
        try:
            if os.readlink(f"/proc/{pid}/fd/1").startswith(str(root)):
                found.append(pid)
        except OSError:
            continue
    return found


def children_of(pid: int) -> list[int]:
    """`pid`'s direct children (the daemon's fork server)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def ketch_processes(daemon_pid: int, root: Path) -> list[int]:
    """Every process of this run's ketch: ketchd, its children (the fork server) and the
    containers' monitors."""
    return [daemon_pid, *children_of(daemon_pid), *shims_under(root)]


def run_sleepers(docker: str, env: dict[str, str], n: int, prefix: str) -> list[str]:
    names = [f"{prefix}{i}" for i in range(n)]
    for name in names:
        subprocess.run([docker, "run", "-d", "--name", name, "busybox", "sleep", "600"],
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    time.sleep(1)
    return names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()
    docker = shutil.which("docker") or "docker"
    prefix = f"mem{os.getpid()}-"
    with tempfile.TemporaryDirectory() as tmp, run_registry(Path(tmp)) as registry:
        images.push_sync(images.busybox(), registry.url, repo="library/busybox")
        daemon = run_daemon(Path(tmp), mirrors=[registry.url])
        try:
            env = dict(os.environ, DOCKER_HOST=daemon.url, DOCKER_CONFIG=str(Path(tmp) / "c"))
            subprocess.run([docker, "pull", "-q", "busybox"], env=env, check=True)
            time.sleep(1)
            idle = pss_kib(ketch_processes(daemon.pid, Path(tmp)))
            run_sleepers(docker, env, args.n, prefix)
            shims = shims_under(Path(tmp))
            ketch = report("ketch shim:     ", shims)
            # What a container costs ketch as a whole: the monitors, and whatever ketchd
            # and the fork server grew by to hold them.
            busy = pss_kib(ketch_processes(daemon.pid, Path(tmp)))
            print(f"all ketch processes: {(busy - idle) / args.n / 1024:5.2f} MiB PSS per "
                  f"container (idle {idle / 1024:.1f} MiB, with {args.n}: {busy / 1024:.1f} MiB)")
            other = os.environ.get("BENCH_DOCKER_HOST")
            if other:
                denv = dict(os.environ, DOCKER_HOST=other)
                saved = subprocess.run([docker, "save", "busybox"], env=env,
                                       check=True, capture_output=True).stdout  # fmt: skip
                subprocess.run([docker, "load", "-q"], env=denv, input=saved, check=True)
                before = set(pids_named("containerd-shim"))
                names = run_sleepers(docker, denv, args.n, prefix)
                try:
                    theirs = [p for p in pids_named("containerd-shim") if p not in before]
                    docker_shim = report("containerd shim:", theirs)
                    print(f"ratio containerd-shim/ketch-shim: {docker_shim / ketch:.2f}")
                finally:
                    subprocess.run([docker, "rm", "-f", *names], env=denv,
                                   stdout=subprocess.DEVNULL, check=False)  # fmt: skip
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
