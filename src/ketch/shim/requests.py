"""The shim's requests: each `op_<name>` returns the reply's fields, or None to reply later.

A mixin of `Shim` (server.py), kept apart so the loop and the protocol read separately.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from ketch.runtime.caps import CAPABILITIES
from ketch.runtime.cgroups import Cgroup
from ketch.runtime.launch import START_TIMEOUT, Init, LaunchError, exec_into
from ketch.shim import frames
from ketch.shim.connection import Client, RequestError
from ketch.shim.process import Process, Stdio, reset_signals_in_child, set_winsize
from ketch.shim.spec import ExecSpec, ShimSpec
from ketch.timestamps import rfc3339_nano


class Requests:
    # The state of the Shim (server.py) these requests are mixed into, which sets it.
    spec: ShimSpec
    config: dict[str, Any]
    init: Process
    execs: dict[str, Process]
    by_pid: dict[int, Process]
    cgroup: Cgroup | None
    waiting_init: Init | None
    seccomp_filter: bytes | None
    start_error: str
    paused: bool
    exiting: bool
    shim_state_cache: dict[str, Any]

    # What the Shim does for them (server.py defines these).
    def write_state(self) -> None:
        raise NotImplementedError

    def _forget_fd(self, fd: int) -> None:
        raise NotImplementedError

    def _update_process_fd(self, proc: Process, fd: int) -> None:
        raise NotImplementedError

    def _process(self, request: dict[str, Any]) -> Process:
        exec_id = request.get("id") or ""
        if not exec_id:
            return self.init
        proc = self.execs.get(exec_id)
        if proc is None:
            raise RequestError(f"No such exec instance: {exec_id}", "not_found")
        return proc

    def _running(self) -> bool:
        return self.init.status == "running" and not self.init.reaped

    def op_state(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        if request.get("id"):
            proc = self._process(request)
            return {"status": proc.status, "pid": proc.pid, **proc.exit_info()}
        return dict(self.shim_state_cache)

    def op_start(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        init = self.init
        waiting = self.waiting_init
        if init.status != "created" or init.reaped or waiting is None:
            raise RequestError("container already started", "conflict")
        self.waiting_init = None
        try:
            waiting.start(START_TIMEOUT)
        except LaunchError as error:
            self.start_error = error.message
            # The init exits with this code; `wait` reports it once reaped.
            init.status = "stopped"
            self.write_state()
            code = 126 if error.exit_code is None else error.exit_code
            raise RequestError(self.start_error, "start", code) from None
        init.status = "running"
        init.started_at = rfc3339_nano()
        self.write_state()
        return {"pid": init.pid}

    def op_kill(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        sig = int(request.get("signal", signal.SIGKILL))
        proc = self._process(request)
        if proc.pid is None or proc.reaped or proc.status != "running":
            # Docker's words; a created container is removed with shutdown(force), not killed.
            raise RequestError(f"Container {self.spec.id} is not running", "conflict")
        if request.get("all") and self.cgroup is not None and proc is self.init:
            for pid in self.cgroup.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        else:
            os.kill(proc.pid, sig)
        if self.paused and proc is self.init and self.cgroup is not None:
            # A frozen v1 task does not die until thawed; Docker thaws on kill too.
            self.cgroup.freeze(False)
            self.paused = False
            self.write_state()
        return {}

    def op_wait(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any] | None:
        proc = self._process(request)
        if proc.status == "exited":
            return proc.exit_info()
        client.process = proc
        proc.waiters.append(client)
        return None

    op_exec_wait = op_wait

    def op_attach(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any] | None:
        proc = self._process(request)
        client.process = proc
        client.streams = {s for s in ("stdout", "stderr") if request.get(s, True)}
        client.has_stdin = bool(request.get("stdin")) and proc.stdio.stdin_w is not None
        client.reply({"ok": True, "tty": proc.stdio.tty})
        if proc.status == "exited":
            client.send(frames.EXIT, str(proc.exit_code).encode())
            client.closing = True
        else:
            proc.attached.append(client)
        return None

    op_exec_attach = op_attach

    def op_resize(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        proc = self._process(request)
        master = proc.stdio.master
        if master is None:
            raise RequestError("the process has no tty", "conflict")
        if master in proc.stdio.outputs:
            set_winsize(master, int(request["h"]), int(request["w"]))
        return {}

    op_exec_resize = op_resize

    def op_exec(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        spec = ExecSpec.from_dict(request["spec"])
        if spec.id in self.execs:
            raise RequestError(f"exec {spec.id} exists", "conflict")
        if not self._running():
            raise RequestError(f"Container {self.spec.id} is not running", "conflict")
        devpts = f"/proc/{self.init.pid}/root/dev/pts" if spec.tty else None
        stdio = Stdio(spec.tty, spec.stdin, devpts)
        proc = Process(spec.id, stdio, stdin_once=True)
        proc.before_close = self._forget_fd
        process = dict(self.config.get("process") or {})
        process["args"] = list(spec.args)
        process["terminal"] = spec.tty
        if spec.env:
            process["env"] = list(spec.env)
        if spec.cwd:
            process["cwd"] = spec.cwd
        if spec.privileged:
            every = list(CAPABILITIES)
            process["capabilities"] = {
                k: every for k in ("bounding", "effective", "permitted", "inheritable")
            }
        proc.spec = {"process": process, "user": spec.user}
        self.execs[spec.id] = proc
        return {"id": spec.id}

    def op_exec_start(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        proc = self._process(request)
        if proc is self.init or proc.status != "created":
            raise RequestError("exec already started", "conflict")
        if not self._running():
            raise RequestError(f"Container {self.spec.id} is not running", "conflict")
        assert self.init.pid is not None and self.cgroup is not None
        try:
            launched = exec_into(
                self.init.pid,
                proc.spec["process"],
                self.cgroup,
                user=proc.spec["user"] or None,
                stdio_fds=proc.stdio.child_fds,
                # As runc exec: the container's filter, even for a privileged exec.
                seccomp_filter=self.seccomp_filter,
                in_child=reset_signals_in_child,
            )
        finally:
            proc.stdio.close_child_ends()
        proc.pid = launched.pid
        self.by_pid[launched.pid] = proc
        proc.status = "running"
        proc.started_at = rfc3339_nano()
        for fd in proc.stdio.outputs:
            self._update_process_fd(proc, fd)
        try:
            launched.wait_started(START_TIMEOUT)
        except LaunchError as error:
            raise RequestError(error.message, "start", error.exit_code) from None
        return {"pid": launched.pid}

    def op_pause(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        if not self._running() or self.paused:
            raise RequestError(f"Container {self.spec.id} is not running", "conflict")
        assert self.cgroup is not None
        self.cgroup.freeze(True)
        self.paused = True
        self.write_state()
        return {}

    def op_resume(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        if not self.paused:
            raise RequestError(f"Container {self.spec.id} is not paused", "conflict")
        assert self.cgroup is not None
        self.cgroup.freeze(False)
        self.paused = False
        self.write_state()
        return {}

    def op_shutdown(self, client: Client[Process], request: dict[str, Any]) -> dict[str, Any]:
        if self.init.status != "exited":
            if not request.get("force"):
                raise RequestError("container is running: stop it first", "conflict")
            if self.init.pid is not None and not self.init.reaped:
                os.kill(self.init.pid, signal.SIGKILL)
        self.exiting = True
        return {}
