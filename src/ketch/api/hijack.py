"""Hijacked connections for attach and exec start: HTTP/1.1 101 UPGRADED, then raw bytes.

The docker CLI half-closes its side when stdin ends and keeps reading, so the
connection must stay open after EOF from the client; aiohttp's protocol would
close it, so after the 101 the transport is handed to a protocol of our own
for as long as the stream lasts. Clients
that do not ask for an upgrade (docker-py's exec_run without a socket) get a
plain 200 response carrying the same stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ketch.api import streams


class _StdinParser:
    """Takes the place of aiohttp's payload parser after the upgrade: bytes -> queue."""

    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self.queue = queue
        self.ended = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data and not self.ended:
            self.queue.put_nowait(data)
        return False, b""

    def feed_eof(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(b"")


class _TakenOver(asyncio.Protocol):
    """Owns the transport after the upgrade: stdin to the parser, EOF keeps it open."""

    def __init__(self, parser: _StdinParser, previous: asyncio.BaseProtocol) -> None:
        self.parser = parser
        self.previous = previous
        self.lost = asyncio.Event()
        self._can_write = asyncio.Event()
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def eof_received(self) -> bool:
        self.parser.feed_eof()
        return True  # keep our sending side open: the client still reads

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        self._can_write.set()
        self.parser.feed_eof()
        # aiohttp tracks its connections: let it forget this one.
        self.previous.connection_lost(exc)

    async def drain(self) -> None:
        await self._can_write.wait()


class Hijacked:
    """The client's side of a stream: read its stdin, write output to it."""

    def __init__(self, request: web.Request, response: web.StreamResponse, upgraded: bool):
        self.request = request
        self.response = response
        self.upgraded = upgraded
        self._stdin: asyncio.Queue[bytes] = asyncio.Queue()
        self._transport: Any = request.transport
        self._protocol: _TakenOver | None = None
        self._closed = False

    async def wait_lost(self) -> None:
        """Returns once the client has gone away entirely (not merely ended its stdin)."""
        if self._protocol is not None:
            await self._protocol.lost.wait()
        else:
            await asyncio.Event().wait()  # aiohttp cancels the handler instead

    async def read(self) -> bytes:
        """The next stdin chunk; b"" once the client has closed its sending side."""
        return await self._stdin.get()

    async def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        if self.upgraded:
            transport = self._transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("client went away")
            transport.write(data)
            if self._protocol is not None:
                await self._protocol.drain()
        else:
            await self.response.write(data)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.upgraded:
            if self._transport is not None and not self._transport.is_closing():
                self._transport.close()
        else:
            try:
                await self.response.write_eof()
            except ConnectionError:
                pass


def use_upgrade_aware_parser() -> None:
    """Make aiohttp's server parse requests with its pure-Python parser.

    The compiled parser does not switch to the upgraded protocol after a
    request that has both `Upgrade: tcp` and a body (exec start sends both),
    so bytes the client sends right after it would be parsed as a new HTTP
    request. The Python parser defers the switch until the body is read.
    """
    from aiohttp import http_parser, web_protocol

    web_protocol.HttpRequestParser = http_parser.HttpRequestParserPy  # type: ignore[attr-defined]


def wants_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "tcp" or "upgrade" in (
        request.headers.get("Connection", "").lower()
    )


async def hijack(request: web.Request, tty: bool) -> Hijacked:
    """Answer with the stream's status line and headers and hand over the connection."""
    content_type = streams.RAW if tty else streams.MULTIPLEXED
    if not wants_upgrade(request):
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        _docker_headers(response)
        await response.prepare(request)
        hijacked = Hijacked(request, response, upgraded=False)
        asyncio.create_task(_feed_body(request, hijacked))
        return hijacked
    response = web.StreamResponse(
        status=101,
        reason="UPGRADED",
        headers={"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"},
    )
    _docker_headers(response)
    await response.prepare(request)
    hijacked = Hijacked(request, response, upgraded=True)
    parser = _StdinParser(hijacked._stdin)
    # set_parser hands over what arrived after the headers; then we take the transport.
    request.protocol.set_parser(parser)  # type: ignore[arg-type]
    taken = _TakenOver(parser, request.protocol)
    hijacked._protocol = taken
    request.transport.set_protocol(taken)  # type: ignore[union-attr]
    return hijacked


async def _feed_body(request: web.Request, hijacked: Hijacked) -> None:
    try:
        async for chunk in request.content.iter_any():
            hijacked._stdin.put_nowait(chunk)
    except (ConnectionError, asyncio.CancelledError):
        pass
    hijacked._stdin.put_nowait(b"")


def _docker_headers(response: web.StreamResponse) -> None:
    import ketch

    response.headers["Api-Version"] = ketch.API_VERSION
    response.headers["Server"] = f"Ketch/{ketch.__version__} (linux)"
    response.headers["Docker-Experimental"] = "false"
    response.headers["Ostype"] = "linux"
