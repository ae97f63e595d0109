"""The shim: one per container, forked from the fork server, outliving the daemon.

A single-threaded selectors loop holds the container's stdio, writes its
json-file log, serves control requests, attach and exec on a Unix socket,
reaps its processes (as child subreaper) and records the exit in
shim-state.json. See docs/interfaces.md (shim/) for the protocol.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from ketch import atomicfile
from ketch.runtime import cgroups
from ketch.runtime import syscalls as sc
from ketch.runtime.console import receive_fd
from ketch.runtime.init import seccomp_program
from ketch.runtime.launch import START_TIMEOUT, Init, LaunchError, create_init
from ketch.shim import frames
from ketch.shim.connection import Client, RequestError
from ketch.shim.jsonlog import JsonFileLog
from ketch.shim.process import HIGH_WATER, Process, Stdio, reset_signals_in_child, set_winsize
from ketch.shim.proctitle import set_process_name, set_title
from ketch.shim.requests import Requests
from ketch.shim.spec import ShimSpec
from ketch.shim.state import STATE_FILE, proc_start_time
from ketch.timestamps import rfc3339_nano

# After a process is reaped, how long its output may stay open (held by an orphan) before
# the exit is reported anyway.
DRAIN_TIMEOUT = 1.0


class Shim(Requests):
    def __init__(
        self, spec: ShimSpec, config: dict[str, Any], seccomp_filter: bytes | None = None
    ) -> None:
        self.spec = spec
        self.config = config
        self.sel = selectors.DefaultSelector()
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.clients: set[Client[Process]] = set()
        self.by_pid: dict[int, Process] = {}
        self.execs: dict[str, Process] = {}
        self.cgroup: cgroups.Cgroup | None = None
        self.init: Process
        # The init until it is started (op_start): what it reports on then is read there.
        self.waiting_init: Init | None = None
        self.start_error = ""
        self.exiting = False
        self.linger_deadline: float | None = None
        self.listener: socket.socket | None = None
        self.socket_inode = 0
        # The program of config.json's linux.seccomp, for the init and every exec.
        self.seccomp_filter = seccomp_filter
        self.paused = False
        self.shim_start_time = proc_start_time(os.getpid())
        self.shim_state_cache: dict[str, Any] = {}

    # --- setup -------------------------------------------------------------

    def create(self) -> None:
        """Cgroup, stdio, PID namespace and the waiting init; raises on any failure."""
        spec = self.spec
        linux = self.config.get("linux") or {}
        resources = spec.resources if spec.resources is not None else linux.get("resources")
        if self.seccomp_filter is None:
            self.seccomp_filter = seccomp_program(self.config)
        self.cgroup = cgroups.create(spec.cgroup_parent, spec.id, resources)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        log = None
        if spec.log_path is not None:
            log = JsonFileLog(str(spec.log_path), spec.log_max_size, spec.log_max_files)
        stdio = Stdio(spec.tty, spec.open_stdin)
        self.init = Process("", stdio, spec.stdin_once, log)
        self.init.before_close = self._forget_fd
        console_shim, console_init = (
            socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) if spec.tty else (None, None)
        )
        try:
            self.waiting_init = create_init(
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
        self.init.pid = self.waiting_init.pid
        self.by_pid[self.init.pid] = self.init
        if console_shim is not None:
            # Sent before the init reported ready: waiting in the socket by now.
            console_shim.settimeout(START_TIMEOUT)
            with console_shim:
                master = receive_fd(console_shim)
            if master is not None:
                stdio.adopt_master(master)
        for fd in stdio.outputs:
            self.sel.register(fd, selectors.EVENT_READ, ("proc", self.init))
        self.sel.register(self._wake_r, selectors.EVENT_READ, ("signal", None))
        self._listen()
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
        listener.setblocking(False)
        self.listener = listener
        self.sel.register(listener, selectors.EVENT_READ, ("accept", None))

    def write_state(self) -> None:
        init = self.init
        state = {
            "id": self.spec.id,
            "shim_pid": os.getpid(),
            "shim_start_time": self.shim_start_time,
            "init_pid": init.pid,
            "init_start_time": proc_start_time(init.pid) if init.pid and not init.reaped else None,
            "status": "paused" if self.paused and init.status == "running" else init.status,
            "exit_code": init.exit_code,
            "oom_killed": init.oom_killed,
            "started_at": init.started_at,
            "finished_at": init.finished_at,
            "error": self.start_error,
            "socket": str(self.spec.socket_path),
        }
        if state["init_start_time"] is None:
            state["init_start_time"] = self.shim_state_cache.get("init_start_time")
        self.shim_state_cache = state
        try:
            # Not fsynced: it describes processes, which an OS crash ends anyway; a crash
            # of the shim or of ketchd loses nothing of what write() gave the page cache.
            # Three writes per run: at create, at start, at exit.
            atomicfile.write_json(
                os.path.join(self.spec.state_dir, STATE_FILE), state, sort_keys=True,
                durable=False,
            )
        except OSError:
            # A full disk: the file keeps its last state; clients get this one over the
            # socket, and the next write (once there is room) catches the file up.
            report_exception()

    # --- loop --------------------------------------------------------------

    def serve(self) -> None:
        while True:
            timeout = None
            if self.timers:
                timeout = max(0.0, min(t for t, _ in self.timers) - time.monotonic())
            for key, mask in self.sel.select(timeout):
                kind, obj = key.data
                try:
                    self._dispatch(kind, obj, key.fd, mask)
                except Exception:
                    # The container outlives any one bad event: note it and go on.
                    report_exception()
                    if kind == "client":
                        self._close_client(obj)
            try:
                self._run_timers()
            except Exception:
                report_exception()
            if self.exiting and not any(c.outbuf for c in self.clients):
                return
            if self.init.status == "exited" and not self.clients:
                if self.linger_deadline is None:
                    self.linger_deadline = time.monotonic() + self.spec.linger_seconds
                    self.add_timer(self.spec.linger_seconds, self._linger_expired)
            else:
                self.linger_deadline = None

    def _dispatch(self, kind: str, obj: Any, fd: int, mask: int) -> None:
        if kind == "proc":
            self._on_process_fd(obj, fd, mask)
        elif kind == "client":
            self._on_client(obj, mask)
        elif kind == "accept":
            self._on_accept()
        elif kind == "signal":
            self._on_signal()

    def add_timer(self, delay: float, callback: Callable[[], None]) -> None:
        self.timers.append((time.monotonic() + delay, callback))

    def _run_timers(self) -> None:
        now = time.monotonic()
        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, callback in due:
            callback()

    def _linger_expired(self) -> None:
        if self.linger_deadline is not None and time.monotonic() >= self.linger_deadline:
            self.exiting = True

    # --- processes ---------------------------------------------------------

    def _update_process_fd(self, proc: Process, fd: int) -> None:
        events = 0
        if fd in proc.stdio.outputs and not proc.paused:
            events |= selectors.EVENT_READ
        if fd == proc.stdio.stdin_w and proc.stdin_buffer:
            events |= selectors.EVENT_WRITE
        try:
            registered = self.sel.get_key(fd)
        except KeyError:
            registered = None
        if registered is None and events:
            self.sel.register(fd, events, ("proc", proc))
        elif registered is not None and not events:
            self.sel.unregister(fd)
        elif registered is not None and registered.events != events:
            self.sel.modify(fd, events, ("proc", proc))

    def _forget_fd(self, fd: int) -> None:
        if fd in self.sel.get_map():
            self.sel.unregister(fd)

    def _on_process_fd(self, proc: Process, fd: int, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            proc.flush_stdin()
            if proc.stdio.stdin_w is not None:
                self._update_process_fd(proc, proc.stdio.stdin_w)
            for client in proc.attached:
                if client.has_stdin:
                    self._update_client(client)
        if mask & selectors.EVENT_READ and fd in proc.stdio.outputs:
            self._read_output(proc, fd)

    def _read_output(self, proc: Process, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.EIO:  # EIO: the pty's last slave closed
                raise
            data = b""
        if not data:
            self._close_output(proc, fd)
            return
        stream = proc.stdio.outputs[fd]
        if proc.log is not None:
            try:
                proc.log.write(stream, data)
                proc.log_failing = False
            except OSError:
                # A full or vanished disk must not stop the container or its output to
                # attach: this output is lost to the log, and it is said once.
                if not proc.log_failing:
                    proc.log_failing = True
                    report_exception()
        frame = frames.encode(frames.STDOUT if stream == "stdout" else frames.STDERR, data)
        for client in proc.attached:
            if stream in client.streams and not client.closed:
                client.outbuf += frame
                self._update_client(client)
                if len(client.outbuf) > HIGH_WATER:
                    proc.paused = True
        if proc.paused:
            for out_fd in proc.stdio.outputs:
                self._update_process_fd(proc, out_fd)

    def _close_output(self, proc: Process, fd: int) -> None:
        del proc.stdio.outputs[fd]
        if fd == proc.stdio.stdin_w:
            proc.stdio.stdin_w = None
            proc.stdin_buffer.clear()
        try:
            self.sel.unregister(fd)
        except KeyError:
            pass
        os.close(fd)
        self._maybe_finish(proc)

    def _on_signal(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.by_pid.pop(pid, None)
            if proc is None:
                continue  # an orphan of the container, reparented to us as subreaper
            code = os.waitstatus_to_exitcode(status)
            proc.exit_code = 128 - code if code < 0 else code
            proc.reaped = True
            proc.finished_at = rfc3339_nano()
            if proc is self.init and self.cgroup is not None:
                proc.oom_killed = self.cgroup.oom_killed()
            self.add_timer(DRAIN_TIMEOUT, functools.partial(self._force_finish, proc))
            self._maybe_finish(proc)

    def _force_finish(self, proc: Process) -> None:
        if proc.status == "exited":
            return
        for fd in list(proc.stdio.outputs):
            self._read_output(proc, fd)
            if fd in proc.stdio.outputs:
                self._close_output(proc, fd)
        self._finish(proc)

    def _maybe_finish(self, proc: Process) -> None:
        if proc.reaped and not proc.stdio.outputs and proc.status != "exited":
            self._finish(proc)

    def _finish(self, proc: Process) -> None:
        proc.status = "exited"
        if proc.log is not None:
            try:
                proc.log.close()
            except OSError:
                traceback.print_exc()
            proc.log = None
        if proc.stdio.stdin_w is not None and proc.stdio.stdin_w not in proc.stdio.outputs:
            self._forget_fd(proc.stdio.stdin_w)
            os.close(proc.stdio.stdin_w)
        proc.stdio.stdin_w = None
        proc.stdin_buffer.clear()
        info = proc.exit_info()
        for client in proc.attached:
            client.send(frames.EXIT, str(proc.exit_code).encode())
            client.closing = True
            self._update_client(client)
        proc.attached.clear()
        for client in proc.waiters:
            client.reply({"ok": True, **info})
            self._update_client(client)
        proc.waiters.clear()
        if proc is self.init:
            self.write_state()

    # --- clients -----------------------------------------------------------

    def _on_accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            client: Client[Process] = Client(sock)
            self.clients.add(client)
            self.sel.register(sock, selectors.EVENT_READ, ("client", client))

    def _update_client(self, client: Client[Process]) -> None:
        if client.closed:
            return
        proc = client.process
        # Stop reading a client whose stdin the process is not taking in.
        stdin_full = client.has_stdin and proc is not None and len(proc.stdin_buffer) > HIGH_WATER
        events = (0 if stdin_full else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if client.outbuf else 0
        )
        registered = client.sock in self.sel.get_map()
        if not events:
            if registered:
                self.sel.unregister(client.sock)
        elif not registered:
            self.sel.register(client.sock, events, ("client", client))
        else:
            self.sel.modify(client.sock, events, ("client", client))

    def _close_client(self, client: Client[Process]) -> None:
        if client.closed:
            return
        client.closed = True
        proc = client.process
        if proc is not None:
            if client in proc.attached:
                proc.attached.remove(client)
            if client in proc.waiters:
                proc.waiters.remove(client)
            if client.has_stdin:
                self._stdin_closed(client)
            self._resume(proc)
        if client.sock in self.sel.get_map():
            self.sel.unregister(client.sock)
        client.sock.close()
        self.clients.discard(client)

    def _resume(self, proc: Process) -> None:
        if proc.paused and all(len(c.outbuf) <= HIGH_WATER for c in proc.attached):
            proc.paused = False
            for fd in list(proc.stdio.outputs):
                self._update_process_fd(proc, fd)

    def _on_client(self, client: Client[Process], mask: int) -> None:
        if mask & selectors.EVENT_WRITE and client.outbuf:
            try:
                sent = client.sock.send(client.outbuf)
                del client.outbuf[:sent]
            except BlockingIOError:
                pass
            except OSError:
                self._close_client(client)
                return
            if client.process is not None:
                self._resume(client.process)
            if not client.outbuf and client.closing:
                self._close_client(client)
                return
            self._update_client(client)
        if mask & selectors.EVENT_READ:
            try:
                data = client.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_client(client)
                return
            try:
                for frame_type, payload in client.decoder.feed(data):
                    self._on_frame(client, frame_type, payload)
            except frames.FrameError:
                self._close_client(client)
                return
            if not client.closed:
                self._update_client(client)

    def _on_frame(self, client: Client[Process], frame_type: int, payload: bytes) -> None:
        proc = client.process
        if frame_type == frames.CONTROL:
            self._on_request(client, payload)
        elif frame_type == frames.STDIN and proc is not None and client.has_stdin:
            proc.write_stdin(payload)
            if proc.stdio.stdin_w is not None:
                self._update_process_fd(proc, proc.stdio.stdin_w)
        elif frame_type == frames.CLOSE_STDIN and client.has_stdin:
            self._stdin_closed(client)
        elif frame_type == frames.RESIZE and proc is not None:
            height, width = (int(v) for v in payload.split())
            if proc.stdio.master is not None and proc.stdio.master in proc.stdio.outputs:
                set_winsize(proc.stdio.master, height, width)

    def _stdin_closed(self, client: Client[Process]) -> None:
        client.has_stdin = False
        proc = client.process
        if proc is not None and (proc.stdin_once or proc is not self.init):
            proc.close_stdin()
            if proc.stdio.stdin_w is not None:
                self._update_process_fd(proc, proc.stdio.stdin_w)

    def _on_request(self, client: Client[Process], payload: bytes) -> None:
        try:
            request = json.loads(payload)
            handler = getattr(self, f"op_{request.get('op', '')}", None)
            if handler is None:
                raise RequestError(f"unknown request {request.get('op')!r}", "invalid")
            result = handler(client, request)
            if result is not None:
                client.reply({"ok": True, **result})
        except RequestError as error:
            reply: dict[str, Any] = {"ok": False, "error": error.message, "kind": error.kind}
            if error.exit_code is not None:
                reply["exit_code"] = error.exit_code
            client.reply(reply)
        except Exception as error:
            traceback.print_exc()
            client.reply({"ok": False, "error": str(error), "kind": "internal"})

    # --- the end -----------------------------------------------------------

    def cleanup(self) -> None:
        """Reap what is left, remove the cgroup and the socket; the state file stays."""
        init: Process | None = getattr(self, "init", None)  # None: create failed early
        if init is not None and init.pid is not None and not init.reaped:
            try:
                os.kill(init.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 2.0
        while self.by_pid and time.monotonic() < deadline:
            self._on_signal()
            time.sleep(0.005)
        if init is not None and init.status != "exited" and init.reaped:
            self._finish(init)
        # A new shim for the same container (docker start after an exit) may already own
        # the socket path and the cgroup: leave them to it.
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


def report_exception() -> None:
    """The current exception to the shim's log (its stderr). A full disk under that log
    must not turn the report itself into an exception that ends the shim."""
    try:
        traceback.print_exc()
        sys.stderr.flush()
    except OSError:
        pass


def run_shim(
    spec: ShimSpec,
    ready_fd: int,
    config: dict[str, Any] | None = None,
    seccomp_filter: bytes | None = None,
) -> NoReturn:
    """The shim's life, in the grandchild the fork server made; reports to `ready_fd` once.

    `config` (config.json) and `seccomp_filter` (its program) if the fork server has them.
    """
    code = 0
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
        # As containerd-shim's `-id`: which container this shim holds, for ps and pgrep.
        set_title(f"ketch-shim -id {spec.id}")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if config is None:
            with open(os.path.join(spec.bundle, "config.json"), "rb") as f:
                config = json.load(f)
        shim = Shim(spec, config, seccomp_filter)
        try:
            shim.create()
        except BaseException as error:
            message = error.message if isinstance(error, RequestError) else str(error)
            traceback.print_exc()
            try:
                shim.cleanup()  # before the reply: a failed spawn leaves nothing behind
            finally:
                os.write(ready_fd, (json.dumps({"error": message}) + "\n").encode())
            os._exit(1)
        os.write(
            ready_fd, (json.dumps({"pid": os.getpid(), "init_pid": shim.init.pid}) + "\n").encode()
        )
        os.close(ready_fd)
        shim.serve()
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        if shim is not None:
            try:
                shim.cleanup()
            except BaseException:
                traceback.print_exc()
                code = 1
        os._exit(code)
