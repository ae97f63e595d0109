"""Starting a container's processes, for the shim and for ketch-runtime alike: the init of a new
container (`create_init`, then `Init.start`) and a process joining a running one (`exec_into`).

The forked child runs init.container_init or process.exec_process, which report on a status
pipe: one JSON line, `{"ready": true}` once the init is set up, or `{"error": ..., "exit_code": n}`;
end of file when a successful execve closed the pipe.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ketch.runtime import syscalls as sc
from ketch.runtime.cgroups import Cgroup
from ketch.runtime.init import CGROUP_JOINED_BYTE, START_BYTE, container_init
from ketch.runtime.process import exec_process, open_namespaces

START_TIMEOUT = 30.0
# How long a failed cgroup move waits for the init's own account of what went wrong.
EARLY_REPORT_TIMEOUT = 1.0

Report = dict[str, Any]


class LaunchError(Exception):
    """A process that could not be created or started; `exit_code` as Docker reports it, when
    the process said (126 for a setup failure, 127 for a missing command)."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def parse_report(data: bytes) -> Report | None:
    """What a child left on its status pipe: None for nothing (execve closed it), the JSON line,
    or, for anything else (a line cut short by the child's death), that text as the error."""
    if not data:
        return None
    text = data.decode(errors="replace")
    try:
        report = json.loads(text) if text.endswith("\n") else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        return {"error": text.strip()}
    return report


def read_report(fd: int, timeout: float) -> Report | None:
    """The child's status line, or None at end of file; LaunchError after `timeout` seconds."""
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise LaunchError("timed out waiting for the container process")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return parse_report(data)


def error_of(report: Report | None, fallback: str) -> LaunchError:
    """The error a report names, with its exit code; `fallback` when it names none."""
    report = report or {}
    code = report.get("exit_code")
    message = report.get("error")
    return LaunchError(
        str(message) if message else fallback, int(code) if isinstance(code, int) else None
    )


def setup_error(report: Report | None) -> LaunchError | None:
    """None if the init reported ready; else why not (end of file: it died first)."""
    if report is not None and report.get("ready") is True and "error" not in report:
        return None
    return error_of(report, "container init exited during setup")


def exec_error(report: Report | None, fallback: str) -> LaunchError | None:
    """None if the command was exec'd (the pipe closed with nothing said); else why not."""
    return None if report is None else error_of(report, fallback)


def _pid_namespace(config: dict[str, Any]) -> tuple[bool, str | None]:
    """(whether the spec asks for a PID namespace, the path of one to join or None for new)."""
    for ns in (config.get("linux") or {}).get("namespaces") or []:
        if ns.get("type") == "pid":
            return True, ns.get("path") or None
    return False, None


def _fork_into_pid_namespace(path: str | None, new: bool) -> int:
    """os.fork(), the child in the PID namespace at `path`, else in a new one if `new`; this
    process's later children are born where they were before (ketch-runtime run forks nothing
    more, but the shim forks execs, which join the container's namespace by path)."""
    if path is None and not new:
        return os.fork()
    before = os.open("/proc/self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if path is None:
            sc.unshare(sc.CLONE_NEWPID)
        else:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if os.fstat(target).st_ino != os.fstat(before).st_ino:
                    sc.setns(target, sc.CLONE_NEWPID)
            finally:
                os.close(target)
        pid = os.fork()
    except BaseException:
        _restore_pid_namespace(before)
        raise
    if pid == 0:
        return 0  # in the namespace for good (`before` is close-on-exec)
    _restore_pid_namespace(before)
    return pid


def _restore_pid_namespace(before: int) -> None:
    try:
        if os.fstat(before).st_ino != os.stat("/proc/self/ns/pid_for_children").st_ino:
            sc.setns(before, sc.CLONE_NEWPID)
    finally:
        os.close(before)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # reaped by someone else (a SIGCHLD handler)


class Init:
    """A container's init, set up and waiting for its start byte."""

    def __init__(self, pid: int, sync_fd: int, status_fd: int) -> None:
        self.pid = pid
        self._sync_fd = sync_fd
        self._status_fd = status_fd

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Let the init exec the container's process; LaunchError if that fails (the init then
        exits with the error's exit code)."""
        try:
            os.write(self._sync_fd, START_BYTE)
            error = exec_error(read_report(self._status_fd, timeout), "start failed")
        finally:
            self.close()
        if error is not None:
            raise error

    def fds(self) -> tuple[int, int]:
        """(the pipe the start byte goes down, the pipe the init reports on), for a process
        that takes over `start` (the shim's monitor, which runs launch.py's protocol in C)."""
        return self._sync_fd, self._status_fd

    def close(self) -> None:
        """Let go of the pipes: an init still waiting for its start byte then exits, unless it
        waits on a start FIFO (ketch-runtime create)."""
        for fd in (self._sync_fd, self._status_fd):
            if fd >= 0:
                _close(fd)
        self._sync_fd = self._status_fd = -1


def create_init(
    bundle: Path,
    config: dict[str, Any],
    cgroup: Cgroup,
    *,
    stdio_fds: tuple[int, int, int] = (0, 1, 2),
    rootfs_mounts: list[dict[str, Any]] | None = None,
    console_socket: socket.socket | None = None,
    seccomp_filter: bytes | None = None,
    start_fifo: str | None = None,
    in_child: Callable[[], None] | None = None,
    timeout: float = START_TIMEOUT,
) -> Init:
    """Fork the container's init (config.json `config` of `bundle`) into its PID namespace and
    return once it is set up and waiting for `Init.start` (or, with `start_fifo`, for whoever
    opens that FIFO); LaunchError if it fails, the init then killed and reaped.

    This process moves the init into `cgroup` while the init builds its root: moving a task
    into v1 cgroups waits for an RCU grace period (~10 ms), overlapped this way instead of
    added. With `console_socket` (process.terminal) the init makes a pty and sends its master
    there; this process's copy is closed once forked. `in_child` runs first in the child.
    """
    new, path = _pid_namespace(config)
    sync_r, sync_w = os.pipe()
    status_r, status_w = os.pipe()
    try:
        pid = _fork_into_pid_namespace(path, new)
    except BaseException:
        for fd in (sync_r, sync_w, status_r, status_w):
            os.close(fd)
        raise
    if pid == 0:
        try:
            if in_child is not None:
                in_child()
            container_init(
                bundle,
                rootfs_mounts or [],
                stdio_fds,
                sync_r,
                status_fd=status_w,
                console_socket=console_socket.fileno() if console_socket is not None else None,
                spec=config,
                start_fifo=start_fifo,
                seccomp_filter=seccomp_filter,
            )
        finally:
            os._exit(126)
    os.close(sync_r)
    os.close(status_w)
    if console_socket is not None:
        console_socket.close()
    init = Init(pid, sync_w, status_r)
    try:
        try:
            cgroup.add(pid)
            os.write(sync_w, CGROUP_JOINED_BYTE)
        except OSError as error:
            # Most likely the init failed first (gone: ESRCH); its own report says why.
            try:
                early = read_report(status_r, EARLY_REPORT_TIMEOUT)
            except LaunchError:
                early = None
            raise error_of(early, f"cannot move the init into its cgroup: {error}") from None
        failure = setup_error(read_report(status_r, timeout))
        if failure is not None:
            raise failure
    except BaseException:
        init.close()
        _kill_and_reap(pid)
        raise
    return init


class Exec:
    """A process forked to join a running container, until it has exec'd its command."""

    def __init__(self, pid: int, status_fd: int) -> None:
        self.pid = pid
        self._status_fd = status_fd

    def wait_started(self, timeout: float = START_TIMEOUT) -> None:
        """Return once the command is exec'd; LaunchError if it could not be (the process then
        exits with the error's exit code, for its parent to reap)."""
        try:
            error = exec_error(read_report(self._status_fd, timeout), "exec failed")
        finally:
            _close(self._status_fd)
        if error is not None:
            raise error


def exec_into(
    init_pid: int,
    process: dict[str, Any],
    cgroup: Cgroup,
    *,
    user: str | None = None,
    stdio_fds: tuple[int, int, int] = (0, 1, 2),
    seccomp_filter: bytes | None = None,
    in_child: Callable[[], None] | None = None,
) -> Exec:
    """Fork `process` (runtime-spec form) into the namespaces and cgroup of the container whose
    init is `init_pid`, as `user` ("uid[:gid]" or names, looked up in the container) if given.
    The caller closes its copies of `stdio_fds`, then calls `Exec.wait_started`."""
    namespace_fds = open_namespaces(init_pid)
    try:
        status_r, status_w = os.pipe()
        try:
            pid = _fork_into_pid_namespace(f"/proc/{init_pid}/ns/pid", False)
        except BaseException:
            os.close(status_r)
            os.close(status_w)
            raise
        if pid == 0:
            try:
                if in_child is not None:
                    in_child()
                exec_process(
                    process,
                    user,
                    stdio_fds,
                    namespace_fds,
                    status_fd=status_w,
                    cgroup_procs=cgroup.procs_files,
                    seccomp_filter=seccomp_filter,
                )
            finally:
                os._exit(126)
    finally:
        for _, fd in namespace_fds:
            os.close(fd)
    os.close(status_w)
    return Exec(pid, status_r)
