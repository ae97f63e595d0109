"""`ketch-runtime`'s commands on a container: create, start, run, state, kill, delete, exec,
pause, resume, as runc does them for containerd (stdio is the caller's; a console socket
receives the pty master for a terminal)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any

from ketch import atomicfile
from ketch.errors import Conflict, Internal, InvalidArgument, KetchError
from ketch.runtime import cgroups, console
from ketch.runtime import syscalls as sc
from ketch.runtime.init import START_BYTE, seccomp_program
from ketch.runtime.launch import LaunchError, create_init, exec_into
from ketch.runtime.runstate import START_FIFO, ContainerState, ensure_new, proc_start_time
from ketch.timestamps import rfc3339_nano

DEFAULT_CGROUP_PARENT = "ketch-runtime"


class StartError(KetchError):
    """The container's process could not be started; `exit_code` as Docker reports it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def of(cls, error: LaunchError, default_exit_code: int) -> StartError:
        code = default_exit_code if error.exit_code is None else error.exit_code
        return cls(error.message, code)


def cgroup_place(config: dict[str, Any], container_id: str) -> tuple[str, str]:
    """(parent, name) from linux.cgroupsPath's path form, as runc reads it."""
    path = ((config.get("linux") or {}).get("cgroupsPath") or "").strip("/")
    if not path:
        return DEFAULT_CGROUP_PARENT, container_id
    parent, _, name = path.rpartition("/")
    return parent, name




def _connect_console(path: str | None) -> socket.socket | None:
    if path is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return sock


def _load_config(bundle: Path) -> dict[str, Any]:
    try:
        config = json.loads((bundle / "config.json").read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"no config.json in bundle {bundle}") from None
    if not isinstance(config, dict):
        raise InvalidArgument(f"config.json in bundle {bundle} is not a JSON object")
    return config


def create(
    root: Path,
    container_id: str,
    bundle: Path,
    pid_file: str | None = None,
    console_socket: str | None = None,
) -> ContainerState:
    """A container whose init waits for `start`; this process may exit meanwhile."""
    bundle = bundle.resolve()
    config = _load_config(bundle)
    if (config.get("process") or {}).get("terminal") and console_socket is None:
        raise InvalidArgument(
            "cannot allocate tty if runc will detach without setting console socket"
        )
    directory = ensure_new(root, container_id)
    parent, name = cgroup_place(config, container_id)
    cgroup = None
    try:
        cgroup = cgroups.create(parent, name, (config.get("linux") or {}).get("resources"))
        fifo = directory / START_FIFO
        os.mkfifo(fifo, 0o600)
        pid = _fork_init(bundle, config, cgroup, str(fifo), console_socket)
        state = ContainerState(
            id=container_id,
            bundle=str(bundle),
            rootfs=str(bundle / (config.get("root") or {}).get("path", "rootfs")),
            pid=pid,
            pid_start_time=proc_start_time(pid),
            created=rfc3339_nano(),
            cgroup_parent=parent,
            cgroup_name=name,
            annotations=dict(config.get("annotations") or {}),
        )
        state.save(root)
        if pid_file:
            atomicfile.write_text(pid_file, str(pid))
        return state
    except BaseException:
        if cgroup is not None:
            _kill_cgroup(cgroup)
            cgroup.remove()
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _fork_init(
    bundle: Path,
    config: dict[str, Any],
    cgroup: cgroups.Cgroup,
    start_fifo: str,
    console_path: str | None,
) -> int:
    """The init, set up and waiting for `start` on `start_fifo`; its pid."""
    try:
        init = create_init(
            bundle,
            config,
            cgroup,
            console_socket=_connect_console(console_path),
            start_fifo=start_fifo,
        )
    except LaunchError as error:
        raise StartError.of(error, 1) from None
    # The start byte comes through the FIFO from `ketch-runtime start`, not from here.
    init.close()
    return init.pid


def start(root: Path, container_id: str) -> None:
    state = ContainerState.load(root, container_id)
    status = state.status(root)
    if status != "created":
        raise Conflict(f"cannot start a container that has {status}")
    fifo = ContainerState.directory(root, container_id) / START_FIFO
    deadline = time.monotonic() + 10
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            break
        except OSError as error:
            # ENXIO: the init has not opened its end yet.
            if error.errno != errno.ENXIO or time.monotonic() > deadline or not state.alive():
                raise Internal(f"cannot start container {container_id}: {error}") from None
            time.sleep(0.001)
    try:
        os.write(fd, START_BYTE)
    finally:
        os.close(fd)
    fifo.unlink()


def _kill_cgroup(cgroup: cgroups.Cgroup, sig: int = signal.SIGKILL) -> None:
    for pid in cgroup.pids():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _cgroup(state: ContainerState) -> cgroups.Cgroup:
    return cgroups.load(state.cgroup_parent, state.cgroup_name)


def parse_signal(text: str) -> int:
    if text.isdigit():
        return int(text)
    name = text.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"unknown signal {text!r}") from None


def kill(root: Path, container_id: str, sig: int, all_processes: bool = False) -> None:
    state = ContainerState.load(root, container_id)
    if not state.alive():
        raise Conflict("container not running")
    if all_processes:
        _kill_cgroup(_cgroup(state), sig)
    else:
        os.kill(state.pid, sig)


def delete(root: Path, container_id: str, force: bool = False) -> None:
    state = ContainerState.load(root, container_id)
    status = state.status(root)
    if status in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {container_id} that is not stopped: {status}")
    cgroup = _cgroup(state)
    if state.alive() or cgroup.pids():
        if status == "paused":
            cgroup.freeze(False)
        _kill_cgroup(cgroup)
        deadline = time.monotonic() + 5
        while (state.alive() or cgroup.pids()) and time.monotonic() < deadline:
            time.sleep(0.005)
    try:
        cgroup.remove()
    except OSError as error:
        raise Internal(f"cannot remove the cgroup of {container_id}: {error}") from None
    shutil.rmtree(ContainerState.directory(root, container_id), ignore_errors=True)


def pause(root: Path, container_id: str, frozen: bool) -> None:
    state = ContainerState.load(root, container_id)
    if not state.alive():
        raise Conflict("container not running")
    _cgroup(state).freeze(frozen)


def is_frozen(state: ContainerState) -> bool:
    cgroup = _cgroup(state)
    try:
        if cgroup.layout.version == 2:
            events = (cgroup.directories[""] / "cgroup.events").read_text()
            return "frozen 1" in events.splitlines()
        for key, directory in cgroup.directories.items():
            if "freezer" in key.split(","):
                return (directory / "freezer.state").read_text().strip() == "FROZEN"
    except OSError:
        return False
    return False


def run(root: Path, container_id: str, bundle: Path, pid_file: str | None = None) -> int:
    """create + start + wait, on this process's stdio; the container's exit code."""
    config = _load_config(bundle.resolve())
    if (config.get("process") or {}).get("terminal"):
        raise InvalidArgument("process.terminal needs --console-socket: use create and start")
    # Orphans of the container are reparented here, so `wait` below can reap the init.
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    state = create(root, container_id, bundle, pid_file)
    try:
        start(root, container_id)
        forward = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)
        for sig in forward:
            signal.signal(sig, lambda number, _frame: os.kill(state.pid, number))
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == state.pid:
                code = os.waitstatus_to_exitcode(status)
                return 128 - code if code < 0 else code
    finally:
        delete(root, container_id, force=True)


def exec_in(
    root: Path,
    container_id: str,
    process: dict[str, Any],
    detach: bool = False,
    pid_file: str | None = None,
    console_socket: str | None = None,
) -> int:
    """Run `process` (runtime-spec form) in the container; its exit code, or 0 when detached."""
    state = ContainerState.load(root, container_id)
    if state.status(root) != "running":
        raise Conflict("cannot exec in a stopped container")
    config = _load_config(Path(state.bundle))
    if process.get("terminal") and console_socket is None:
        raise InvalidArgument(
            "cannot allocate tty if runc will detach without setting console socket"
        )
    if not detach:
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    stdio: tuple[int, int, int] = (0, 1, 2)
    slave = -1
    if process.get("terminal"):
        master, slave, _ = console.open_pty(f"/proc/{state.pid}/root/dev/pts")
        sock = _connect_console(console_socket)
        assert sock is not None
        with sock:
            console.send_fd(sock.fileno(), master)
        os.close(master)
        stdio = (slave, slave, slave)
    try:
        launched = exec_into(
            state.pid,
            process,
            _cgroup(state),
            stdio_fds=stdio,
            seccomp_filter=seccomp_program(config),
        )
    finally:
        if slave >= 0:
            os.close(slave)
    child = launched.pid
    try:
        launched.wait_started()
    except LaunchError as error:
        raise StartError.of(error, 126) from None
    if pid_file:
        atomicfile.write_text(pid_file, str(child))
    if detach:
        return 0
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def process_from_args(
    config: dict[str, Any],
    args: list[str],
    env: list[str],
    cwd: str | None,
    tty: bool,
    user: str | None,
) -> dict[str, Any]:
    process = dict(config.get("process") or {})
    process["args"] = list(args)
    process["terminal"] = tty
    if env:
        process["env"] = list(process.get("env") or []) + list(env)
    if cwd:
        process["cwd"] = cwd
    if user:
        uid, _, gid = user.partition(":")
        process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    return process


def update(root: Path, container_id: str, resources: dict[str, Any]) -> None:
    """runc update: new runtime-spec resources for a live container's cgroup."""
    state = ContainerState.load(root, container_id)
    if not state.alive():
        raise Conflict("container not running")
    _cgroup(state).update(resources)


def processes(root: Path, container_id: str) -> list[int]:
    """runc ps: host pids of every process in the container's cgroup."""
    return _cgroup(ContainerState.load(root, container_id)).pids()


def features() -> dict[str, Any]:
    """runc features: what this runtime implements, in the runtime-spec features format."""
    from ketch.runtime.caps import CAPABILITIES
    from ketch.runtime.mounts import OPTION_NAMES
    from ketch.runtime.seccomp import supported_architectures

    architectures = supported_architectures()

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": [],
        "mountOptions": list(OPTION_NAMES),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
            "capabilities": list(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": bool(architectures),
                "actions": [
                    "SCMP_ACT_ALLOW",
                    "SCMP_ACT_ERRNO",
                    "SCMP_ACT_KILL",
                    "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_LOG",
                    "SCMP_ACT_TRACE",
                    "SCMP_ACT_TRAP",
                ],
                "operators": [
                    "SCMP_CMP_EQ",
                    "SCMP_CMP_GE",
                    "SCMP_CMP_GT",
                    "SCMP_CMP_LE",
                    "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ",
                    "SCMP_CMP_NE",
                ],
                "archs": architectures,
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
    }
