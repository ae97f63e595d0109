"""The fork server: `python -m ketch.shim.forkserver <socket>`.

Started once by the daemon, single-threaded, with the runtime and shim
already imported, so a container's shim is a fork away instead of a new
interpreter. It serves one connection (the daemon's): each line is
`{"op": "spawn", "id": <any>, "spec": ShimSpec}`; the reply line is
`{"id": <the request's>, "pid": <shim pid>}` once the container's init is created and
waiting, or `{"id": ..., "error": "..."}`. Spawns overlap: replies come in the order the
shims report, not the order of the requests.
Shims are forked into their own session, so they outlive this process,
which exits when the daemon's connection closes.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Iterable
from typing import Any

from ketch.runtime import syscalls as sc
from ketch.runtime.caps import DOCKER_DEFAULT_CAPS
from ketch.runtime.init import seccomp_program
from ketch.runtime.seccomp import default_profile, profile_to_spec
from ketch.shim.proctitle import set_process_name, set_title
from ketch.shim.server import run_shim
from ketch.shim.spec import ShimSpec

SPAWN_TIMEOUT = 60.0
ACCEPT_TIMEOUT = 30.0


def prepare(spec: ShimSpec) -> tuple[dict[str, Any] | None, bytes | None]:
    """The container's config.json and its seccomp program, read and built here so the shim
    need not: building Docker's default profile with libseccomp takes ~15 ms, and a program
    built here is remembered (by content) for every later container with the same profile.
    (None, None) if anything fails: the shim then tries itself and reports the error."""
    try:
        config = json.loads((spec.bundle / "config.json").read_text())
        return config, seccomp_program(config)
    except Exception:
        return None, None


def warm_seccomp() -> None:
    """Build now, while nothing waits, the program ketchd's default container gets (Docker's
    default profile, Docker's default capabilities), so the first container does not pay."""
    try:
        linux_seccomp = profile_to_spec(default_profile(), list(DOCKER_DEFAULT_CAPS))
        if linux_seccomp is not None:
            seccomp_program({"linux": {"seccomp": linux_seccomp}})
    except Exception:
        pass  # the container that needs it will report the error


class Pending:
    """A forked shim whose ready report has not come yet."""

    def __init__(self, request_id: Any, ready_fd: int) -> None:
        self.request_id = request_id
        self.ready_fd = ready_fd
        self.data = b""
        self.deadline = time.monotonic() + SPAWN_TIMEOUT


def spawn(spec: ShimSpec, closeables: list[socket.socket], close_fds: Iterable[int]) -> int:
    """Fork the shim of `spec`; returns the read end of its ready pipe, where the shim (or
    the monitor it execs) writes the spawn's reply line."""
    config, seccomp_filter = prepare(spec)
    ready_r, ready_w = os.pipe()
    # One fork, not two: the pages a middle process dirtied would all be left to the shim
    # (~0.1 MiB each). The kernel reaps exited shims (SIGCHLD ignored, see main), and they
    # are reparented when this process exits.
    if os.fork() == 0:
        try:
            # The fork server's SIGCHLD setting is its own: with it ignored, the shim could
            # not wait for its children.
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for sock in closeables:
                sock.close()
            # Other shims' ready pipes: held here, a fork server that died would not be
            # seen by them (their report would wait in a pipe nobody reads).
            for fd in (ready_r, *close_fds):
                os.close(fd)
            os.setsid()
            run_shim(spec, ready_w, config, seccomp_filter)
        finally:
            os._exit(1)
    os.close(ready_w)
    return ready_r


def _reply_of(data: bytes) -> dict[str, Any]:
    if not data:
        return {"error": "the shim exited before the container was created"}
    try:
        reply = json.loads(data)
    except ValueError:
        return {"error": f"the shim said {data!r}"}
    return reply if isinstance(reply, dict) else {"error": f"the shim said {reply!r}"}


def _send(conn: socket.socket, request_id: Any, reply: dict[str, Any]) -> None:
    conn.sendall((json.dumps({"id": request_id, **reply}) + "\n").encode())


def _handle(line: bytes, conn: socket.socket, pending: dict[int, Pending]) -> None:
    request_id = None
    try:
        request = json.loads(line)
        request_id = request.get("id")
        if request.get("op") != "spawn":
            _send(conn, request_id, {"error": f"unknown op {request.get('op')!r}"})
            return
        ready_fd = spawn(ShimSpec.from_dict(request["spec"]), [conn], pending)
    except Exception as error:  # a bad request must not end the fork server
        _send(conn, request_id, {"error": f"spawn failed: {error}"})
        return
    pending[ready_fd] = Pending(request_id, ready_fd)


def _finish(conn: socket.socket, pending: dict[int, Pending], waiting: Pending,
            reply: dict[str, Any]) -> None:  # fmt: skip
    del pending[waiting.ready_fd]
    os.close(waiting.ready_fd)
    _send(conn, waiting.request_id, reply)


def _read_ready(conn: socket.socket, pending: dict[int, Pending], waiting: Pending) -> None:
    chunk = os.read(waiting.ready_fd, 4096)
    waiting.data += chunk
    if not chunk or waiting.data.endswith(b"\n"):
        _finish(conn, pending, waiting, _reply_of(waiting.data))


def loop(conn: socket.socket) -> None:
    """Requests are answered as their shims report, not in order: a spawn forks and the
    next request is read at once, so spawns overlap (each reply names its request's id).
    Returns when the daemon's connection closes."""
    pending: dict[int, Pending] = {}
    buffer = b""
    conn_fd = conn.fileno()
    while True:
        timeout = None
        if pending:
            nearest = min(waiting.deadline for waiting in pending.values())
            timeout = max(0.0, nearest - time.monotonic())
        readable = select.select([conn_fd, *pending], [], [], timeout)[0]
        for fd in readable:
            if fd == conn_fd:
                continue
            _read_ready(conn, pending, pending[fd])
        now = time.monotonic()
        for late in [waiting for waiting in pending.values() if waiting.deadline <= now]:
            _finish(conn, pending, late, {"error": "timed out starting the shim"})
        if conn_fd in readable:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                _handle(line, conn, pending)


def serve(socket_path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    listener.bind(socket_path)
    os.chmod(socket_path, 0o600)
    listener.listen(1)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    # The daemon connects at once; one that died first must not leave this process waiting.
    listener.settimeout(ACCEPT_TIMEOUT)
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        os.unlink(socket_path)
        sys.exit(1)
    finally:
        listener.close()
    conn.settimeout(None)
    os.unlink(socket_path)
    warm_seccomp()
    with conn:
        loop(conn)


def main() -> None:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m ketch.shim.forkserver <socket>\n")
        sys.exit(2)
    # Everything imported is shared copy-on-write with every shim; keep the GC off those pages.
    gc.freeze()
    # Ctrl-C at the daemon's terminal reaches this process too; the daemon ends it by
    # closing the connection instead. Shims reset this for the containers they start.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Shims are this process's children until it exits; nobody waits for them here, so the
    # kernel reaps them. A shim restores the default as soon as it is forked (spawn).
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # When the daemon dies this process goes too, even before it has connected; shims are
    # not affected (the setting is not inherited across fork).
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    set_process_name("ketch-forksrv")
    # Also frees the room after argv for the shims' titles, once here for all of them.
    set_title(f"ketch-forkserver {sys.argv[1]}")
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
