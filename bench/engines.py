"""The engines the scale benchmark compares, each started on roots of its own.

ketchd runs as the tests run it (its own roots, cgroup parent and bridge); dockerd
through bench/dockerd.sh with docker0 and its iptables in a network namespace of its
own; podman (no daemon) with its own roots and configuration files, every command
run in a network namespace of its own, so netavark's bridge and rules stay there.
Each start registers its own teardown on the ExitStack it is given: daemons stopped
by their PID, containers, mounts, roots and namespaces removed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

import netns
from memory_per_container import Proc, engine_pids

from ketch.testing.daemon import _unmount_under, run_daemon

BENCH = Path(__file__).resolve().parent
KETCH = str(Path(sys.executable).with_name("ketch"))


@dataclass
class Engine:
    """One engine's CLI and its processes."""

    name: str
    cli: list[str]  # the argv prefix of its CLI
    env: dict[str, str]
    netns: str | None = None  # where its daemon (and so its pulls and pushes) runs
    roots: list[int] = field(default_factory=list)  # its daemons' PIDs
    rm_all: list[str] = field(default_factory=lambda: ["rm", "-f"])
    shim_marker: str = ""  # a string in each of its shims' command lines

    def argv(self, *args: str) -> list[str]:
        return [*self.cli, *args]

    def run(self, *args: str) -> None:
        subprocess.run(self.argv(*args), env=self.env, check=True, stdout=subprocess.DEVNULL)

    def output(self, *args: str) -> str:
        return subprocess.run(self.argv(*args), env=self.env, check=True,
                              capture_output=True, text=True).stdout  # fmt: skip

    def container_ids(self) -> list[str]:
        return self.output("ps", "-aq").split()

    def remove_containers(self) -> None:
        ids = self.container_ids()
        if ids:
            self.run(*self.rm_all, *ids)

    def is_shim(self, proc: Proc) -> bool:
        return bool(self.shim_marker) and self.shim_marker in proc.cmdline

    def pids(self) -> list[int]:
        """Its daemons, their helpers and every container's shim: what it costs to run."""
        return engine_pids(self.roots, self.is_shim)


@dataclass
class Ketch(Engine):
    containers_dir: Path = Path()

    def is_shim(self, proc: Proc) -> bool:
        # Shims are titled `ketch-shim -id <id>`; this daemon's have its containers' ids.
        words = proc.cmdline.split()
        return (len(words) >= 3 and words[:2] == ["ketch-shim", "-id"]
                and (self.containers_dir / words[2]).is_dir())  # fmt: skip


def start_ketch(stack: ExitStack, tmp: Path) -> Ketch:
    daemon = run_daemon(tmp / "ketch", debug=False)
    stack.callback(daemon.stop)
    env = dict(os.environ, KETCH_HOST=daemon.url, DOCKER_CONFIG=str(tmp / "ketch-config"))
    return Ketch("ketch", [KETCH], env, roots=[daemon.pid],
                 containers_dir=daemon.data_root / "containers")  # fmt: skip


def fresh_root(root: Path) -> None:
    if root.exists():
        raise RuntimeError(f"{root} exists: a leftover of an earlier run? Remove it first "
                           "(with nothing mounted under it).")  # fmt: skip
    root.mkdir(parents=True)


def stop_pid(pid: int, timeout: float = 30.0) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def kill_shims(engine: Engine) -> None:
    """Shims the engine left behind (it started them for us; they are ours to end)."""
    for pid in engine.pids():
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def remove_root(root: Path) -> None:
    _unmount_under(root)
    shutil.rmtree(root, ignore_errors=True)


def start_docker(stack: ExitStack, root: Path, namespace: str) -> Engine:
    """dockerd (Debian's docker.io) with docker0 and its rules in `namespace`."""
    fresh_root(root)
    stack.callback(remove_root, root)
    netns.create(namespace)
    stack.callback(netns.delete, namespace)
    env = dict(os.environ, BENCH_DOCKERD_ROOT=str(root), BENCH_DOCKERD_BRIDGE="1",
               BENCH_DOCKERD_NETNS=namespace)  # fmt: skip
    url = subprocess.run(["bash", str(BENCH / "dockerd.sh")], env=env, check=True,
                         capture_output=True, text=True).stdout.split()[-1]  # fmt: skip
    pid = int((root / "docker.pid").read_text())
    engine = Engine("docker", ["docker"], dict(os.environ, DOCKER_HOST=url,
                    DOCKER_CONFIG=str(root / "client-config")), namespace, [pid],
                    shim_marker=f"-address {root}/exec/")  # fmt: skip

    def stop() -> None:
        with suppress(Exception):
            engine.remove_containers()
        stop_pid(pid)
        kill_shims(engine)

    stack.callback(stop)
    return engine


def limit(kind: int) -> str:
    """`soft:hard` of one of this process's rlimits, as containers.conf writes it."""
    return ":".join("-1" if v == resource.RLIM_INFINITY else str(v)
                    for v in resource.getrlimit(kind))  # fmt: skip


def start_podman(stack: ExitStack, root: Path, namespace: str, registries: list[str]) -> Engine:
    """podman with roots, configuration and a network namespace of its own; `registries`
    (host:port) are plain-HTTP registries it may pull from and push to."""
    fresh_root(root)
    stack.callback(remove_root, root)
    netns.create(namespace)
    stack.callback(netns.delete, namespace)
    # Its default nofile (1048576) is beyond what root may raise to here (no
    # CAP_SYS_RESOURCE): the limit the other engines' containers inherit instead. nproc:
    # podman lowers its own to 32768 first, so no more than that.
    nofile = limit(resource.RLIMIT_NOFILE)
    # runc: crun is not installed, and runc handles this machine's cgroup v1 layout (with a
    # v2 mount beside it) as dockerd's does.
    (root / "containers.conf").write_text(f"""
[containers]
default_ulimits = ["nofile={nofile}", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{root}/events.log"
tmp_dir = "{root}/tmp"
static_dir = "{root}/root/libpod"
volume_path = "{root}/root/volumes"

[network]
network_backend = "netavark"
network_config_dir = "{root}/networks"
""")
    (root / "storage.conf").write_text(f"""
[storage]
driver = "overlay"
graphroot = "{root}/root"
runroot = "{root}/run"
""")
    (root / "registries.conf").write_text(
        "unqualified-search-registries = []\n"
        + "".join(
            f"[[registry]]\nlocation = {json.dumps(r)}\ninsecure = true\n" for r in registries
        )
    )
    env = dict(os.environ, CONTAINERS_CONF=str(root / "containers.conf"),
               CONTAINERS_STORAGE_CONF=str(root / "storage.conf"),
               CONTAINERS_REGISTRIES_CONF=str(root / "registries.conf"))  # fmt: skip
    cli = [*netns.prefix(namespace), "podman", "--root", f"{root}/root",
           "--runroot", f"{root}/run"]  # fmt: skip
    engine = Engine("podman", cli, env, namespace, rm_all=["rm", "-f", "-t", "0"],
                    shim_marker=f"{root}/")  # fmt: skip

    def stop() -> None:
        with suppress(Exception):
            engine.remove_containers()
        kill_shims(engine)

    stack.callback(stop)
    return engine
