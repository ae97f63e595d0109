"""The shim: one per container, forked from the fork server, outliving the daemon.

Python only for the setup, which takes a few milliseconds: the cgroup, the stdio
pipes or pty, the init forked into its PID namespace and waiting for its start
byte, the listening socket and the first shim-state.json. Once the fork server
has heard the container is created, this process execs `ketch-monitor` (the C
program built from monitor/): same pid, so it stays the init's parent and the
child subreaper, holding the fds made here. The monitor serves the socket, the
log, the execs and the exit; see docs/interfaces.md (shim/) for the protocol.
A Python process per container would cost ~2.5 MiB where the monitor costs
~0.2 (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback
from typing import Any, NoReturn

from ketch import atomicfile
from ketch.runtime import cgroups
from ketch.runtime import syscalls as sc
from ketch.runtime.console import receive_fd
from ketch.runtime.init import seccomp_program
from ketch.runtime.launch import START_TIMEOUT, Init, LaunchError, create_init
from ketch.shim import exechelper
from ketch.shim.connection import RequestError
from ketch.shim.process import Stdio, reset_signals_in_child
from ketch.shim.proctitle import set_process_name, set_title
from ketch.shim.spec import ShimSpec
from ketch.shim.state import STATE_FILE, proc_start_time

MONITOR = "ketch-monitor"
# The program of config.json's linux.seccomp, in the state directory, for the execs.
SECCOMP_FILE = "seccomp.bpf"
# The environment variable naming the fd the monitor reads its configuration from.
CONFIG_FD_VARIABLE = "KETCH_MONITOR_CONFIG_FD"


def find_monitor() -> str:
    """ketch-monitor next to the Python running ketch (the virtual environment's bin, where
    scripts/setup installs it), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), MONITOR)
    candidates = [beside] + [
        os.path.join(directory, MONITOR)
        for directory in os.environ.get("PATH", "").split(os.pathsep)
        if directory
    ]
    for candidate in candidates:
        if os.access(candidate, os.X_OK) and os.path.isfile(candidate):
            return candidate
    raise RequestError(
        f"{MONITOR} not found next to {sys.executable} nor on PATH: build it with "
        f"`make -C monitor` (scripts/setup installs it to {beside})"
    )


class Shim:
    """A container's setup, until `exec_monitor` hands it to ketch-monitor."""

    def __init__(
        self, spec: ShimSpec, config: dict[str, Any], seccomp_filter: bytes | None = None
    ) -> None:
        self.spec = spec
        self.config = config
        self.cgroup: cgroups.Cgroup | None = None
        self.stdio: Stdio | None = None
        self.init: Init | None = None
        self.log_fd: int | None = None
        self.listener: socket.socket | None = None
        self.socket_inode = 0
        self.seccomp_filter = seccomp_filter
        self.shim_start_time = proc_start_time(os.getpid())
        self.init_start_time: int | None = None

    def create(self) -> None:
        """Cgroup, stdio, PID namespace and the waiting init; raises on any failure."""
        spec = self.spec
        linux = self.config.get("linux") or {}
        resources = spec.resources if spec.resources is not None else linux.get("resources")
        if self.seccomp_filter is None:
            self.seccomp_filter = seccomp_program(self.config)
        self.cgroup = cgroups.create(spec.cgroup_parent, spec.id, resources)
        if spec.log_path is not None:
            self.log_fd = os.open(
                spec.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640
            )
        if self.seccomp_filter is not None:
            atomicfile.write_bytes(
                os.path.join(spec.state_dir, SECCOMP_FILE), self.seccomp_filter,
                mode=0o600, durable=False,
            )  # fmt: skip
        stdio = self.stdio = Stdio(spec.tty, spec.open_stdin)
        console_shim, console_init = (
            socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) if spec.tty else (None, None)
        )
        try:
            self.init = create_init(
                spec.bundle,
                self.config,
                self.cgroup,
                stdio_fds=stdio.child_fds,
                rootfs_mounts=spec.rootfs_mounts,
                console_socket=console_init,
                seccomp_filter=self.seccomp_filter,
                in_child=reset_signals_in_child,
                timeout=START_TIMEOUT,
            )
        except LaunchError as error:
            raise RequestError(error.message, "internal", error.exit_code) from None
        finally:
            stdio.close_child_ends()
        if console_shim is not None:
            # Sent before the init reported ready: waiting in the socket by now.
            console_shim.settimeout(START_TIMEOUT)
            with console_shim:
                master = receive_fd(console_shim)
            if master is not None:
                stdio.adopt_master(master)
        self._listen()
        self.init_start_time = proc_start_time(self.init.pid)
        self.write_state()

    def _listen(self) -> None:
        path = str(self.spec.socket_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o600)
        self.socket_inode = os.stat(path).st_ino
        listener.listen(64)
        self.listener = listener

    def write_state(self) -> None:
        """The first shim-state.json (the monitor writes the later ones, the same fields)."""
        assert self.init is not None
        state = {
            "id": self.spec.id,
            "shim_pid": os.getpid(),
            "shim_start_time": self.shim_start_time,
            "init_pid": self.init.pid,
            "init_start_time": self.init_start_time,
            "status": "created",
            "exit_code": None,
            "oom_killed": False,
            "started_at": "",
            "finished_at": "",
            "error": "",
            "socket": str(self.spec.socket_path),
        }
        # Not fsynced: it describes processes, which an OS crash ends anyway.
        atomicfile.write_json(
            os.path.join(self.spec.state_dir, STATE_FILE), state, sort_keys=True, durable=False
        )

    # --- the hand-over -------------------------------------------------------

    def monitor_config(self) -> tuple[str, list[int]]:
        """ketch-monitor's configuration (key=value lines) and the fds it inherits."""
        spec, stdio, init, cgroup = self.spec, self.stdio, self.init, self.cgroup
        assert stdio is not None and init is not None and cgroup is not None
        assert self.listener is not None
        sync_fd, status_fd = init.fds()
        fds = {
            "listen_fd": self.listener.fileno(),
            "sync_fd": sync_fd,
            "status_fd": status_fd,
            "master_fd": stdio.master,
            "stdin_fd": stdio.stdin_w,
            "stdout_fd": None if spec.tty else _stream_fd(stdio, "stdout"),
            "stderr_fd": None if spec.tty else _stream_fd(stdio, "stderr"),
            "log_fd": self.log_fd,
        }
        lines = [f"{key}={-1 if fd is None else fd}" for key, fd in fds.items()]
        values: list[tuple[str, object]] = [
            ("id", spec.id),
            ("state_dir", spec.state_dir),
            ("socket", spec.socket_path),
            ("socket_ino", self.socket_inode),
            ("tty", int(spec.tty)),
            ("open_stdin", int(spec.open_stdin)),
            ("stdin_once", int(spec.stdin_once)),
            ("linger", spec.linger_seconds),
            ("init_pid", init.pid),
            ("init_start_time", "" if self.init_start_time is None else self.init_start_time),
            ("shim_start_time", self.shim_start_time),
            ("python", sys.executable),
            # Where ketch is imported from, for the exec helper (which runs without site).
            ("python_path", os.path.dirname(os.path.dirname(os.path.dirname(__file__)))),
            ("exec_process_file", self.write_exec_process()),
            ("log_max_size", spec.log_max_size),
            ("log_max_files", spec.log_max_files),
        ]
        if spec.log_path is not None:
            values.append(("log_path", spec.log_path))
        if self.seccomp_filter is not None:
            values.append(("seccomp_file", os.path.join(spec.state_dir, SECCOMP_FILE)))
        values += [("cgroup_dir", d) for d in cgroup.directories.values()]
        values += [("cgroup_procs", path) for path in cgroup.procs_files]
        freezer = cgroup.freezer_dir()
        values.append(("freezer_kind", f"v{cgroup.layout.version}" if freezer else ""))
        values.append(("freezer_dir", freezer or ""))
        values.append(("oom_file", cgroup.oom_file() or ""))
        for key, value in values:
            text = str(value)
            if "\n" in text:
                raise RequestError(f"a newline in the shim's {key}: {text!r}")
            lines.append(f"{key}={text}")
        return "\n".join(lines) + "\n", [fd for fd in fds.values() if fd is not None]

    def write_exec_process(self) -> str:
        """The container's process for the exec helper (exechelper.PROCESS_FILE); its path."""
        path = os.path.join(self.spec.state_dir, exechelper.PROCESS_FILE)
        process = exechelper.dump_process(self.config.get("process") or {})
        atomicfile.write_bytes(path, process, mode=0o600, durable=False)
        return path

    def exec_monitor(self, monitor: str, ready_fd: int) -> NoReturn:
        """Become ketch-monitor, with the fds of the container and its configuration; it
        writes the spawn's reply to `ready_fd`."""
        text, fds = self.monitor_config()
        text += f"ready_fd={ready_fd}\n"
        fds.append(ready_fd)
        config_fd = os.memfd_create("ketch-monitor-config", 0)
        os.write(config_fd, text.encode())
        os.lseek(config_fd, 0, os.SEEK_SET)
        for fd in fds:
            os.set_inheritable(fd, True)
        environment = dict(os.environ)
        environment[CONFIG_FD_VARIABLE] = str(config_fd)
        sys.stdout.flush()
        sys.stderr.flush()
        # As containerd-shim's `-id`: which container this monitor holds, for ps and pgrep.
        os.execve(monitor, ["ketch-shim", "-id", self.spec.id], environment)

    # --- a failed setup ------------------------------------------------------

    def cleanup(self) -> None:
        """Undo a setup that failed (or could not be handed over): the init, the cgroup, the
        socket; the state file stays."""
        if self.init is not None:
            self.init.close()
            try:
                os.kill(self.init.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.init.pid, 0)
            except ChildProcessError:
                pass
        if self.listener is not None:
            path = str(self.spec.socket_path)
            try:
                if os.stat(path).st_ino == self.socket_inode:
                    os.unlink(path)
            except FileNotFoundError:
                pass
        if self.cgroup is not None and not self.cgroup.pids():
            try:
                self.cgroup.remove(timeout=0.5)
            except OSError:
                traceback.print_exc()


def _stream_fd(stdio: Stdio, stream: str) -> int | None:
    return next((fd for fd, name in stdio.outputs.items() if name == stream), None)


def run_shim(
    spec: ShimSpec,
    ready_fd: int,
    config: dict[str, Any] | None = None,
    seccomp_filter: bytes | None = None,
) -> NoReturn:
    """The shim's setup, in the child the fork server made, then ketch-monitor; one of them
    reports to `ready_fd` once (the error of a failed setup, or the monitor that it runs).

    `config` (config.json) and `seccomp_filter` (its program) if the fork server has them.
    """
    shim: Shim | None = None
    try:
        os.makedirs(spec.state_dir, exist_ok=True)
        null = os.open("/dev/null", os.O_RDWR)
        log_fd = os.open(
            os.path.join(spec.state_dir, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640
        )
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(null)
        os.close(log_fd)
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        set_process_name("ketch-shim")
        set_title(f"ketch-shim -id {spec.id}")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        try:
            monitor = find_monitor()
            if config is None:
                with open(os.path.join(spec.bundle, "config.json"), "rb") as f:
                    config = json.load(f)
            shim = Shim(spec, config, seccomp_filter)
            shim.create()
        except BaseException as error:
            message = error.message if isinstance(error, RequestError) else str(error)
            traceback.print_exc()
            try:
                if shim is not None:
                    shim.cleanup()  # before the reply: a failed spawn leaves nothing behind
            finally:
                os.write(ready_fd, (json.dumps({"error": message}) + "\n").encode())
            os._exit(1)
        try:
            # The monitor reports ready on `ready_fd` once it runs (named ketch-shim by then):
            # an exec that fails is still this spawn's error.
            shim.exec_monitor(monitor, ready_fd)
        except BaseException as error:
            traceback.print_exc()
            shim.cleanup()
            os.write(ready_fd, (json.dumps({"error": f"{monitor}: {error}"}) + "\n").encode())
            os._exit(1)
    except BaseException:
        traceback.print_exc()
        if shim is not None:
            try:
                shim.cleanup()
            except BaseException:
                traceback.print_exc()
    finally:
        os._exit(1)
