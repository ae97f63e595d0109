"""An attach session: a client's stdin/stdout/stderr joined to a container's shim.

A session may exist before the container starts (the docker CLI attaches, then
starts); the service connects it to the shim between spawn and start, so no
output is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

_HEADER = struct.Struct(">BxxxI")
MAX_QUEUED = 64  # chunks of output waiting for a slow client
SHIM_STDIN, SHIM_STDOUT, SHIM_STDERR, SHIM_CLOSE_STDIN, SHIM_RESIZE, SHIM_EXIT = range(6)


class AttachSession:
    def __init__(self, *, stdin: bool, stdout: bool, stderr: bool) -> None:
        self.want_stdin = stdin
        self.want_stdout = stdout
        self.want_stderr = stderr
        self.output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        # A slow client slows the shim's side instead of filling the daemon's memory.
        self._room = asyncio.Event()
        self._room.set()
        self._stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self.connected = asyncio.Event()

    async def _put(self, item: tuple[int, bytes]) -> None:
        self.output.put_nowait(item)
        if self.output.qsize() >= MAX_QUEUED:
            self._room.clear()
            await self._room.wait()

    async def next_output(self) -> tuple[int, bytes] | None:
        """The next (stream, bytes) for the client, or None when the output has ended."""
        item = await self.output.get()
        if self.output.qsize() < MAX_QUEUED // 2:
            self._room.set()
        return item

    def send_stdin(self, data: bytes) -> None:
        if self.want_stdin:
            self._stdin.put_nowait(data)

    def close_stdin(self) -> None:
        if self.want_stdin:
            self._stdin.put_nowait(None)

    def end(self) -> None:
        """No more output: the container is gone or never started."""
        self.output.put_nowait(None)

    async def connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Pump frames both ways over a shim attach connection."""
        self._tasks = [
            asyncio.create_task(self._pump_out(reader, writer)),
            asyncio.create_task(self._pump_in(writer)),
        ]
        self.connected.set()

    async def _pump_out(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(_HEADER.size)
                kind, size = _HEADER.unpack(header)
                payload = await reader.readexactly(size) if size else b""
                if kind == SHIM_EXIT:
                    break
                if kind == SHIM_STDOUT and self.want_stdout:
                    await self._put((1, payload))
                elif kind == SHIM_STDERR and self.want_stderr:
                    await self._put((2, payload))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.output.put_nowait(None)
            for task in self._tasks:
                if task is not asyncio.current_task():
                    task.cancel()
            writer.close()

    async def _pump_in(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                data = await self._stdin.get()
                if data is None:
                    writer.write(_HEADER.pack(SHIM_CLOSE_STDIN, 0))
                    await writer.drain()
                    return
                writer.write(_HEADER.pack(SHIM_STDIN, len(data)) + data)
                await writer.drain()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
