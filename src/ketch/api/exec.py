"""Exec routes: create, start (hijacked or detached), resize, inspect."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ketch.api.backend import ExecBackend
from ketch.api.containers import pump
from ketch.api.detach import parse_keys
from ketch.api.hijack import hijack
from ketch.api.http import backend_of, json_response, query_uint32, read_json
from ketch.api.streams import STDOUT, encode
from ketch.containers import schema
from ketch.errors import KetchError

log = logging.getLogger("ketch.api.exec")

# The start body's fields (Go's container.ExecStartRequest).
EXEC_START = {"Detach": schema.BOOL, "Tty": schema.BOOL, "ConsoleSize": schema.LIST}
# The create body's (Go's container.ExecOptions).
EXEC_CREATE_FIELDS = (
    "User", "Privileged", "Tty", "ConsoleSize", "AttachStdin", "AttachStderr", "AttachStdout",
    "DetachKeys", "Env", "WorkingDir", "Cmd",
)  # fmt: skip


def service(request: web.Request) -> ExecBackend:
    return backend_of(request).execs


async def create(request: web.Request) -> web.Response:
    body = await read_json(request)
    body = schema.canonical(body, EXEC_CREATE_FIELDS)
    log.debug("exec create in %s: %s", request.match_info["id"], body)
    exec_id = service(request).exec_create(request.match_info["id"], body)
    return json_response({"Id": exec_id}, status=201)


async def start(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    schema.check("ExecStartRequest", body, EXEC_START)
    detach = bool(body.get("Detach"))
    svc = service(request)
    exec_id = request.match_info["id"]
    record = svc.exec_check_startable(exec_id)
    if detach:
        await svc.exec_start(exec_id, detach=True)
        return web.Response(status=200)
    tty = bool(record.config["Tty"])
    # The start body's Tty, not the exec's, says whether the output is framed, as
    # dockerd: docker-py starts a TTY exec with Tty false and reads frames.
    raw = bool(body.get("Tty"))
    # The 101 goes out before the process starts: a client that reads the headers
    # through a buffered reader would otherwise swallow the first output with them.
    conn = await hijack(request, raw)
    try:
        try:
            record, session = await svc.exec_start(exec_id)
        except KetchError as exc:
            # Where the output would be, as dockerd writes it: framed as stdout unless raw.
            await conn.write(encode(STDOUT, exc.message.encode() + b"\r\n", raw))
            return conn.response
        if session is not None:
            stdin = bool(record.config["AttachStdin"])
            keys = parse_keys(record.config.get("DetachKeys")) if stdin and tty else b""
            await pump(conn, session, raw, stdin, detach_keys=keys)
            session.close()
        # Report the exit before the stream ends, so an inspect right after sees it.
        await asyncio.wait_for(record.done.wait(), timeout=10)
    except (ConnectionError, asyncio.CancelledError, TimeoutError):
        pass
    finally:
        await conn.close()
    return conn.response


async def resize(request: web.Request) -> web.Response:
    await service(request).exec_resize(
        request.match_info["id"],
        query_uint32(request, "h", "resize height"),
        query_uint32(request, "w", "resize width"),
    )
    return web.Response(status=201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(service(request).exec_inspect(request.match_info["id"]))


ROUTES = [
    ("POST", "/containers/{id}/exec", create),
    ("POST", "/exec/{id}/start", start),
    ("POST", "/exec/{id}/resize", resize),
    ("GET", "/exec/{id}/json", inspect),
]
