"""The daemon's side of the shim: start the fork server, spawn shims, talk to them (asyncio).

Requests that answer later (wait) or turn into a stream (attach) use their
own connection, so one `ShimConnection` can keep serving the others.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ketch.errors import KetchError
from ketch.shim import frames
from ketch.shim.spec import ExecSpec, ExitStatus, ShimSpec

FORKSERVER_SOCKET = "forkserver.sock"


class ShimError(KetchError):
    """A shim refused or failed a request.

    `kind` is "not_found", "conflict", "invalid", "start" (the command could
    not be executed: `exit_code` is 126 or 127 as Docker's CLI reports) or
    "internal".
    """

    def __init__(self, message: str, kind: str = "internal", exit_code: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.exit_code = exit_code
        self.status = {"not_found": 404, "conflict": 409, "invalid": 400}.get(kind, 500)


class ForkServerGone(ShimError):
    """The fork server's connection closed: the process died (killed, crashed).

    `delivered` is False when the spawn request never reached it (it was dead before),
    so the same request may go to a new fork server without risking a second shim.
    """

    def __init__(self, message: str, delivered: bool) -> None:
        super().__init__(message)
        self.delivered = delivered


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next frame, or None at a clean end of stream."""
    try:
        header = await reader.readexactly(frames.HEADER_SIZE)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return None
    frame_type, length = frames.decode_header(header)
    payload = await reader.readexactly(length) if length else b""
    return frame_type, payload


def write_frame(writer: asyncio.StreamWriter, frame_type: int, payload: bytes = b"") -> None:
    writer.write(frames.encode(frame_type, payload))


async def relay_output(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    tty: bool,
    stdout: bool = True,
    stderr: bool = True,
) -> int | None:
    """Copy an attach's output to a hijacked HTTP connection until the exit frame; the code.

    Without a tty the frames are Docker's multiplexed stream already and go as
    they are; with one, only their payloads go (Docker's raw stream).
    """
    wanted = {frames.STDOUT: stdout, frames.STDERR: stderr}
    while True:
        try:
            header = await reader.readexactly(frames.HEADER_SIZE)
        except asyncio.IncompleteReadError:
            return None
        frame_type, length = frames.decode_header(header)
        payload = await reader.readexactly(length) if length else b""
        if frame_type == frames.EXIT:
            return int(payload or b"0")
        if wanted.get(frame_type):
            writer.write(payload if tty else header + payload)
            await writer.drain()


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: dict[str, Any]
) -> dict[str, Any]:
    write_frame(writer, frames.CONTROL, json.dumps(message).encode())
    await writer.drain()
    while True:
        frame = await read_frame(reader)
        if frame is None:
            raise ShimError("the shim closed the connection", "internal")
        if frame[0] == frames.CONTROL:
            reply = json.loads(frame[1])
            if not isinstance(reply, dict):
                raise ShimError(f"a reply that is not a JSON object: {reply!r}", "internal")
            break
    if not reply.get("ok"):
        raise ShimError(
            reply.get("error", "shim error"), reply.get("kind", "internal"), reply.get("exit_code")
        )
    return reply


class ShimConnection:
    """A container's shim, reached through its socket (also after a daemon restart)."""

    def __init__(
        self, socket_path: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.socket_path = Path(socket_path)
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, socket_path: Path | str) -> ShimConnection:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        return cls(Path(socket_path), reader, writer)

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        async with self._lock:
            return await _request(self._reader, self._writer, {"op": op, **fields})

    async def _stream(
        self, op: str, **fields: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]]:
        reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
        try:
            reply = await _request(reader, writer, {"op": op, **fields})
        except BaseException:
            writer.close()
            raise
        return reader, writer, reply

    async def start(self) -> int:
        """Run the command; returns the init's pid. ShimError(kind="start") if it cannot exec."""
        return int((await self.request("start"))["pid"])

    async def kill(self, signal: int, all_processes: bool = False) -> None:
        await self.request("kill", signal=int(signal), all=all_processes)

    async def state(self) -> dict[str, Any]:
        """What shim-state.json holds (shim_pid, shim_start_time, init_pid, status, exit_code,
        oom_killed, started_at, finished_at, error), as the shim knows it now."""
        reply = await self.request("state")
        reply.pop("ok", None)
        return reply

    async def wait(self) -> ExitStatus:
        reader, writer, reply = await self._stream("wait")
        writer.close()
        return ExitStatus.from_dict(reply)

    async def attach(
        self, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Frames both ways from here on: read STDOUT/STDERR then one EXIT; write STDIN,
        CLOSE_STDIN, RESIZE. STDOUT/STDERR frames are Docker's multiplexed stream as is."""
        reader, writer, _ = await self._stream("attach", stdin=stdin, stdout=stdout, stderr=stderr)
        return reader, writer

    async def pause(self) -> None:
        """Freeze every process of the container (docker pause); state says "paused"."""
        await self.request("pause")

    async def resume(self) -> None:
        await self.request("resume")

    async def resize(self, height: int, width: int) -> None:
        await self.request("resize", h=height, w=width)

    async def exec(self, spec: ExecSpec) -> str:
        return str((await self.request("exec", spec=spec.to_dict()))["id"])

    async def exec_start(self, exec_id: str) -> int:
        """Start a created exec (attach first to see all of its output); returns its pid."""
        return int((await self.request("exec_start", id=exec_id))["pid"])

    async def exec_attach(
        self, exec_id: str, stdin: bool = True, stdout: bool = True, stderr: bool = True
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer, _ = await self._stream(
            "exec_attach", id=exec_id, stdin=stdin, stdout=stdout, stderr=stderr
        )
        return reader, writer

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        await self.request("exec_resize", id=exec_id, h=height, w=width)

    async def exec_wait(self, exec_id: str) -> ExitStatus:
        reader, writer, reply = await self._stream("exec_wait", id=exec_id)
        writer.close()
        return ExitStatus.from_dict(reply)

    async def shutdown(self, force: bool = False) -> None:
        """Let the shim clean up (cgroup, socket) and exit; shim-state.json stays."""
        await self.request("shutdown", force=force)


class ForkServer:
    """The one helper process that forks shims; started by the daemon at start.

    Spawns overlap: each request carries an id, and one task hands each reply line to the
    spawn that waits for it (the fork server answers as the shims report, in any order)."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.process = process
        self._reader = reader
        self._writer = writer
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._gone = False
        self._replies = asyncio.ensure_future(self._read_replies())

    @classmethod
    async def start(cls, exec_root: Path, python: str = sys.executable) -> ForkServer:
        exec_root = Path(exec_root)
        exec_root.mkdir(parents=True, exist_ok=True)
        socket_path = exec_root / FORKSERVER_SOCKET
        try:
            process = await asyncio.create_subprocess_exec(
                python,
                "-m",
                "ketch.shim.forkserver",
                str(socket_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ShimError(f"cannot start the fork server: {exc}") from exc
        assert process.stdout is not None
        line = await process.stdout.readline()
        if line != b"ready\n":
            await process.wait()
            raise ShimError(f"the fork server failed to start (exit {process.returncode})")
        try:
            reader, writer = await asyncio.open_unix_connection(str(socket_path))
        except OSError as exc:
            process.kill()
            await process.wait()
            raise ShimError(f"cannot connect to the fork server: {exc}") from exc
        return cls(process, reader, writer)

    async def _read_replies(self) -> None:
        try:
            while True:
                try:
                    line = await self._reader.readline()
                except OSError:
                    line = b""
                if not line:
                    return
                reply = json.loads(line)
                waiting = self._waiting.pop(reply.get("id"), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(reply)
        finally:
            # Its end of the socket closed: it died, and every spawn it held fails (their
            # shims, unable to report, clean up).
            self._gone = True
            for waiting in self._waiting.values():
                if not waiting.done():
                    waiting.set_exception(
                        ForkServerGone("the fork server exited during the spawn", delivered=True)
                    )
            self._waiting.clear()

    async def spawn(self, spec: ShimSpec) -> int:
        """Fork a shim for `spec`; returns its pid once the container's init waits for start."""
        # Its end of the socket closes when it dies: the EOF already read, or a write
        # refused (EPIPE), means it never saw this request.
        if self._gone or self._reader.at_eof() or self.process.returncode is not None:
            raise ForkServerGone("the fork server exited", delivered=False)
        self._next_id += 1
        request_id = self._next_id
        message = {"op": "spawn", "id": request_id, "spec": spec.to_dict()}
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiting
        try:
            self._writer.write(json.dumps(message).encode() + b"\n")
            await self._writer.drain()
        except OSError as exc:
            self._waiting.pop(request_id, None)
            raise ForkServerGone(f"the fork server exited ({exc})", delivered=False) from exc
        except BaseException:
            self._waiting.pop(request_id, None)
            raise
        reply = await waiting
        if "error" in reply:
            raise ShimError(reply["error"])
        return int(reply["pid"])

    async def close(self) -> None:
        """Close the connection; the fork server exits and running shims stay."""
        self._writer.close()
        self._replies.cancel()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
        await self.process.wait()

    stop = close
