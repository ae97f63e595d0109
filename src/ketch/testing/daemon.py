"""Run a real ketchd for a test: temp socket and roots, own cgroup parent, full cleanup."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Daemon:
    socket_path: Path
    data_root: Path
    exec_root: Path
    cgroup_parent: str
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    # The daemon's own default bridge and nftables table: tests touch only what they made.
    bridge: str = "ketch0"
    firewall_table: str = "ketch"
    # What runs ketchd: `-m ketch.daemon`, or a module wrapping it (a fake builder's).
    launcher: list[str] = field(default_factory=lambda: ["-m", "ketch.daemon"])

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL ketchd alone, as a crash would: shims and containers keep running."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode

    def restart(self) -> None:
        """Start ketchd again on the same roots (after kill() or terminate())."""
        self.process = _spawn(self.args(), self.log_path)
        _wait_ready(self)

    def args(self) -> list[str]:
        return [
            sys.executable, *self.launcher,
            "-H", self.url,
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--cgroup-parent", self.cgroup_parent,
            "--bridge", self.bridge,
            "--firewall-table", self.firewall_table,
            "--config-file", str(self.data_root.parent / "daemon.json"),
            *self.extra_args,
        ]  # fmt: skip

    def stop(self) -> None:
        """Stop ketchd, then everything it left: shims, mounts, cgroups, dirs."""
        with suppress(Exception):
            self.terminate()
        doomed = _shim_pids(self.data_root)
        for pid in doomed:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _kill_cgroup_members(self.cgroup_parent)
        _wait_gone(doomed)
        _unmount_under(self.data_root)
        _unmount_under(self.exec_root)
        _remove_cgroups(self.cgroup_parent)
        self.remove_network()
        shutil.rmtree(self.exec_root, ignore_errors=True)
        shutil.rmtree(self.data_root.parent, ignore_errors=True)

    def remove_network(self) -> None:
        """The links and firewall table the daemon made (they outlive it, as running
        containers keep forwarding while ketchd is down)."""
        from ketch.network.manager import NetworkManager

        root = self.data_root / "network"
        if root.is_dir():
            with suppress(Exception):
                NetworkManager(root, bridge=self.bridge, table=self.firewall_table).remove_all()


def run_daemon(
    tmp_path: Path,
    mirrors: list[str] | None = None,
    insecure: list[str] | None = None,
    extra_args: list[str] | None = None,
    launcher: list[str] | None = None,
    debug: bool = True,
) -> Daemon:
    """Start ketchd on roots of its own and return once `_ping` answers (with debug logs,
    unless a benchmark asks for the default's quiet)."""
    base = tmp_path / "ketchd"
    data_root = base / "data"
    data_root.mkdir(parents=True)
    # Socket paths are limited to 107 bytes, so the exec root is short.
    exec_root = Path(tempfile.mkdtemp(prefix="kt-", dir="/tmp"))
    (base / "daemon.json").write_text(
        json.dumps(
            {
                "registry-mirrors": list(mirrors or []),
                "insecure-registries": list(insecure or []),
                "debug": debug,
            }
        )
    )
    unique = uuid.uuid4().hex[:8]
    daemon = Daemon(
        socket_path=exec_root / "ketch.sock",
        data_root=data_root,
        exec_root=exec_root,
        cgroup_parent=f"ketch-test-{unique}",
        bridge=f"ktb{unique}",
        firewall_table=f"ketch-test-{unique}",
        process=None,  # type: ignore[arg-type]
        log_path=base / "ketchd.log",
        extra_args=list(extra_args or []),
    )
    if launcher is not None:
        daemon.launcher = list(launcher)
    daemon.process = _spawn(daemon.args(), daemon.log_path)
    try:
        _wait_ready(daemon)
    except BaseException:
        daemon.stop()
        raise
    return daemon


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def _wait_ready(daemon: Daemon, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise RuntimeError(f"ketchd exited with {daemon.process.returncode}:\n{daemon.log()}")
        if _ping(daemon.socket_path):
            return
        time.sleep(0.02)
    raise TimeoutError(f"ketchd did not answer _ping in {timeout}s:\n{daemon.log()}")


def _ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: ketch\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _shim_pids(data_root: Path) -> list[int]:
    """Shims and container inits recorded in shim-state.json, when still the same process."""
    pids: list[int] = []
    for state in (data_root / "containers").glob("*/shim-state.json"):
        with suppress(OSError, ValueError):
            data = json.loads(state.read_text())
            for prefix in ("init", "shim"):
                pid, start = data.get(f"{prefix}_pid"), data.get(f"{prefix}_start_time")
                if isinstance(pid, int) and pid > 1 and _start_time(pid) == start:
                    pids.append(pid)
    return pids


def _wait_gone(pids: list[int], timeout: float = 5.0) -> None:
    """Until the killed processes are gone (or zombies waiting for their reaper)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state == "Z":
                break
            time.sleep(0.01)


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _cgroup_dirs(parent: str) -> list[Path]:
    dirs = []
    for controller in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else []:
        candidate = controller / parent
        if candidate.is_dir():
            dirs.append(candidate)
    if (CGROUP_ROOT / parent).is_dir():
        dirs.append(CGROUP_ROOT / parent)
    return dirs


def _subdirectories(top: Path) -> list[Path]:
    # os.walk, not rglob: shims remove their cgroups meanwhile, and rglob raises on a
    # directory that vanished between listing and scanning; os.walk skips it.
    return [Path(root) for root, _, _ in os.walk(top)]


def _kill_cgroup_members(parent: str) -> None:
    for top in _cgroup_dirs(parent):
        for procs in (directory / "cgroup.procs" for directory in _subdirectories(top)):
            with suppress(OSError):
                for line in procs.read_text().split():
                    with suppress(ProcessLookupError, ValueError):
                        os.kill(int(line), signal.SIGKILL)


def _remove_cgroups(parent: str) -> None:
    for top in _cgroup_dirs(parent):
        # Children before parents; a cgroup dir is removed with rmdir only.
        for _ in range(50):
            dirs = sorted(_subdirectories(top)[1:], key=lambda p: -len(p.parts))
            with suppress(OSError):
                for d in dirs:
                    d.rmdir()
                top.rmdir()
            if not top.exists():
                break
            time.sleep(0.05)


def _unmount_under(root: Path) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    mnt_detach = 2
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    prefix = str(root.resolve())
    targets = [
        line.split()[4].encode().decode("unicode_escape")
        for line in lines
        if line.split()[4] == prefix or line.split()[4].startswith(prefix + "/")
    ]
    for target in sorted(targets, key=len, reverse=True):
        libc.umount2(target.encode(), mnt_detach)
