"""GET /containers/{id}/attach/ws: attach over a websocket, as dockerd serves it.

The streams go raw (not multiplexed: a websocket keeps no stream ids), one message per
chunk: binary frames from API 1.42 on, text frames before, as dockerd sends them;
what the client sends is the container's stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from ketch.api import versioning
from ketch.api.containers import service
from ketch.api.http import query_bool
from ketch.containers.attach import AttachSession


async def attach_ws(request: web.Request) -> web.WebSocketResponse:
    want_logs = query_bool(request, "logs")
    want_stream = query_bool(request, "stream")
    stdin = query_bool(request, "stdin")
    stdout = query_bool(request, "stdout")
    stderr = query_bool(request, "stderr")
    svc = service(request)
    container = svc.get(request.match_info["id"])  # 404 before the upgrade
    binary = versioning.parse(request["api_version"]) >= versioning.parse("1.42")
    ws = web.WebSocketResponse()
    await ws.prepare(request)

    async def send(data: bytes) -> None:
        if binary:
            await ws.send_bytes(data)
        else:
            await ws.send_str(data.decode("utf-8", "replace"))

    session: AttachSession | None = None
    try:
        if want_logs and (stdout or stderr) and container.log_driver != "none":
            _, chunks = svc.logs(container.id, stdout=stdout, stderr=stderr)
            async for _, data in chunks:
                await send(data)
        if want_stream:
            container, session = await svc.attach(
                container.id, stdin=stdin, stdout=stdout, stderr=stderr
            )
            await _pump(ws, session, send, stdin)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if session is not None:
            session.close()
        await ws.close()
    return ws


async def _pump(
    ws: web.WebSocketResponse,
    session: AttachSession,
    send: Callable[[bytes], Awaitable[None]],
    stdin: bool,
) -> None:
    """Client messages -> stdin (if asked for); output -> client, until either ends."""

    async def forward_stdin() -> None:
        async for message in ws:
            if not stdin:
                continue
            if message.type == WSMsgType.BINARY:
                session.send_stdin(message.data)
            elif message.type == WSMsgType.TEXT:
                session.send_stdin(message.data.encode())
        # The client closed: the session ends with it (stdin stays open, as a detach).
        session.output.put_nowait(None)

    reader = asyncio.create_task(forward_stdin())
    try:
        while (item := await session.next_output()) is not None:
            await send(item[1])
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


ROUTES = [("GET", "/containers/{id}/attach/ws", attach_ws)]
