"""Container routes: create, list, inspect, start, stop, kill, restart, wait, remove,
logs, attach, resize."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from ketch import errors
from ketch.api import compat, streams
from ketch.api.backend import ContainersBackend, FilesBackend
from ketch.api.detach import DetachWatcher, parse_keys
from ketch.api.filters import check_keys, query_filters
from ketch.api.hijack import Hijacked, hijack
from ketch.api.http import (
    backend_of,
    json_response,
    parse_time_param,
    query_bool,
    query_int,
    query_uint32,
    read_json,
)
from ketch.containers.attach import AttachSession
from ketch.errors import InvalidArgument

LOGS_AFTER_UPGRADE = 0.005  # seconds between an attach's 101 and the log it replays


def service(request: web.Request) -> ContainersBackend:
    return backend_of(request).containers


def files(request: web.Request) -> FilesBackend:
    return backend_of(request).files


async def create(request: web.Request) -> web.Response:
    body = await read_json(request)
    host_config = body.pop("HostConfig", None) or {}
    networking_config = body.pop("NetworkingConfig", None) or {}
    name = request.query.get("name") or None
    container_id, warnings = await service(request).create(
        name, body, host_config, networking_config
    )
    return json_response({"Id": container_id, "Warnings": warnings}, status=201)


async def list_containers(request: web.Request) -> web.Response:
    rows = service(request).list(
        all=query_bool(request, "all"),
        filters=query_filters(request),
        limit=query_int(request, "limit"),
        size=query_bool(request, "size"),
    )
    return json_response(rows)


async def inspect(request: web.Request) -> web.Response:
    view = service(request).inspect(request.match_info["id"], size=query_bool(request, "size"))
    return json_response(compat.container_inspect(view, request["api_version"]))


async def start(request: web.Request) -> web.Response:
    await service(request).start(request.match_info["id"])
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    await service(request).stop(
        request.match_info["id"], timeout=query_int(request, "t"),
        signal=request.query.get("signal") or None,
    )  # fmt: skip
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    await service(request).restart(
        request.match_info["id"], timeout=query_int(request, "t"),
        signal=request.query.get("signal") or None,
    )  # fmt: skip
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    await service(request).kill(request.match_info["id"], request.query.get("signal") or None)
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    """Headers go out at once (the CLI waits for them before it starts the container);
    the body follows when the condition is met."""
    waiting = service(request).wait_for(
        request.match_info["id"], request.query.get("condition") or "not-running"
    )
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b"")
    try:
        body = await waiting
    except asyncio.CancelledError:
        waiting.cancel()
        raise
    import json

    await response.write(json.dumps(body).encode() + b"\n")
    await response.write_eof()
    return response


async def remove(request: web.Request) -> web.Response:
    await service(request).remove(
        request.match_info["id"], force=query_bool(request, "force"),
        volumes=query_bool(request, "v"),
    )  # fmt: skip
    return web.Response(status=204)


async def remove_link(request: web.Request) -> web.Response:
    """DELETE /containers/parent/alias?link=1 (`docker rm --link`); without `link` the
    path names no container, as dockerd finds no container by that name."""
    parent, alias = request.match_info["parent"], request.match_info["alias"]
    if not query_bool(request, "link"):
        raise errors.no_such_container(f"{parent}/{alias}")
    service(request).remove_link(parent, alias)
    return web.Response(status=204)


async def resize(request: web.Request) -> web.Response:
    height = query_uint32(request, "h", "resize height")
    width = query_uint32(request, "w", "resize width")
    await service(request).resize(request.match_info["id"], height, width)
    return web.Response(status=200)


async def logs(request: web.Request) -> web.StreamResponse:
    tail_raw = request.query.get("tail", "all")
    if tail_raw in ("", "all"):
        tail = None
    else:
        try:
            tail = int(tail_raw)
        except ValueError:
            raise InvalidArgument(f"invalid tail value: {tail_raw}") from None
    container, chunks = service(request).logs(
        request.match_info["id"],
        stdout=query_bool(request, "stdout"),
        stderr=query_bool(request, "stderr"),
        follow=query_bool(request, "follow"),
        tail=tail,
        # A log's bound of 0 is no bound (the CLI sends until=0 when none is given).
        since=parse_time_param(request.query.get("since")) or None,
        until=parse_time_param(request.query.get("until")) or None,
        timestamps=query_bool(request, "timestamps"),
    )
    tty = container.tty
    response = web.StreamResponse(
        headers={"Content-Type": streams.RAW if tty else streams.MULTIPLEXED}
    )
    await response.prepare(request)
    async for stream, data in chunks:
        await response.write(streams.encode(stream, data, tty))
    await response.write_eof()
    return response


async def attach(request: web.Request) -> web.StreamResponse:
    want_logs = query_bool(request, "logs")
    want_stream = query_bool(request, "stream")
    stdin = query_bool(request, "stdin")
    stdout = query_bool(request, "stdout")
    stderr = query_bool(request, "stderr")
    svc = service(request)
    container = svc.get(request.match_info["id"])
    tty = container.tty
    keys = parse_keys(request.query.get("detachKeys")) if stdin and tty else b""
    session = None
    if want_stream and not container.running:
        # Before start (the CLI's order): the session waits for the container's shim.
        container, session = await svc.attach(
            container.id, stdin=stdin, stdout=stdout, stderr=stderr
        )
    conn = await hijack(request, tty)
    try:
        if want_logs and (stdout or stderr) and container.log_driver != "none":
            _, chunks = svc.logs(container.id, stdout=stdout, stderr=stderr)
            # docker-py reads the 101's headers through a buffered reader and then the raw
            # socket: bytes already behind the headers when it reads them are lost to it.
            # dockerd's first log bytes come later; so do these.
            await asyncio.sleep(LOGS_AFTER_UPGRADE)
            async for stream, data in chunks:
                await conn.write(streams.encode(stream, data, tty))
        if want_stream and session is None:
            container, session = await svc.attach(
                container.id, stdin=stdin, stdout=stdout, stderr=stderr
            )
        if session is not None:
            stdin_once = bool(container.config.get("StdinOnce")) and not tty
            await pump(conn, session, tty, stdin, close_stdin_on_eof=stdin_once,
                       detach_keys=keys)  # fmt: skip
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if session is not None:
            session.close()
        await conn.close()
    return conn.response


async def pump(
    conn: Hijacked,
    session: AttachSession,
    tty: bool,
    stdin: bool,
    close_stdin_on_eof: bool = True,
    detach_keys: bytes = b"",
) -> None:
    """Client stdin -> session; session output -> client, until the output ends.

    When the client's stdin ends, the process's stdin is closed only if asked
    (Docker's StdinOnce): a client that detaches leaves the container's stdin open.
    """

    watcher_keys = DetachWatcher(detach_keys) if detach_keys else None

    async def forward_stdin() -> None:
        while True:
            data = await conn.read()
            if not data:
                if close_stdin_on_eof:
                    session.close_stdin()
                return
            if watcher_keys is not None:
                data, detach = watcher_keys.feed(data)
                if data:
                    session.send_stdin(data)
                if detach:
                    session.output.put_nowait(None)  # ends the session; stdin stays open
                    return
                continue
            session.send_stdin(data)

    reader = asyncio.create_task(forward_stdin()) if stdin else None
    # A client that leaves (detach keys, a killed CLI) ends the session at once,
    # even while the container prints nothing.
    watcher = asyncio.create_task(conn.wait_lost())

    def end_session(lost: asyncio.Task[None]) -> None:
        if not lost.cancelled():
            session.output.put_nowait(None)

    watcher.add_done_callback(end_session)
    try:
        while True:
            item = await session.next_output()
            if item is None:
                return
            stream, data = item
            await conn.write(streams.encode(stream, data, tty))
    finally:
        watcher.cancel()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def pause(request: web.Request) -> web.Response:
    await service(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    await service(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    service(request).rename(request.match_info["id"], request.query.get("name", ""))
    return web.Response(status=204)


# What dockerd's container prune accepts; any other key is refused, not ignored.
PRUNE_FILTERS = {"label", "label!", "until"}


async def prune(request: web.Request) -> web.Response:
    filters = query_filters(request)
    check_keys(filters, PRUNE_FILTERS)
    return json_response(await service(request).prune(filters))


async def top(request: web.Request) -> web.Response:
    return json_response(
        service(request).top(request.match_info["id"], request.query.get("ps_args", ""))
    )


async def commit(request: web.Request) -> web.Response:
    container = request.query.get("container", "")
    if not container:
        raise InvalidArgument("container is required")
    changes = [change for change in request.query.getall("changes", []) if change]
    body = await read_json(request)
    image_id = await files(request).commit(
        container,
        repo=request.query.get("repo") or None,
        tag=request.query.get("tag") or None,
        comment=request.query.get("comment", ""),
        author=request.query.get("author", ""),
        config=body or None,
        pause=query_bool(request, "pause", default=True),
        changes=changes,
    )
    return json_response({"Id": image_id}, status=201)


async def stats(request: web.Request) -> web.StreamResponse:
    import json

    samples = service(request).stats(
        request.match_info["id"],
        stream=query_bool(request, "stream", default=True),
        one_shot=query_bool(request, "one-shot"),
    )
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    first = await anext(samples)  # a 404 must come before the headers
    await response.prepare(request)
    await response.write(json.dumps(first).encode() + b"\n")
    async for sample in samples:
        await response.write(json.dumps(sample).encode() + b"\n")
    await response.write_eof()
    return response


async def archive_head(request: web.Request) -> web.Response:
    from ketch.containers.archive import encode_stat

    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required")
    found = await files(request).archive_stat(request.match_info["id"], path)
    return web.Response(headers={"X-Docker-Container-Path-Stat": encode_stat(found)})


async def archive_get(request: web.Request) -> web.StreamResponse:
    import tempfile

    from ketch.containers.archive import encode_stat

    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required")
    with tempfile.TemporaryFile(dir=backend_of(request).config.data_root) as spool:
        found = await files(request).archive_get(request.match_info["id"], path, spool)
        spool.seek(0)
        response = web.StreamResponse(headers={
            "Content-Type": "application/x-tar",
            "X-Docker-Container-Path-Stat": encode_stat(found),
        })  # fmt: skip
        await response.prepare(request)
        while chunk := await asyncio.to_thread(spool.read, 1024 * 1024):
            await response.write(chunk)
        await response.write_eof()
    return response


async def archive_put(request: web.Request) -> web.Response:
    import tempfile

    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required")
    with tempfile.TemporaryFile(dir=backend_of(request).config.data_root) as spool:
        async for chunk in request.content.iter_chunked(1024 * 1024):
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        await files(request).archive_put(
            request.match_info["id"], path, spool, copy_owner=query_bool(request, "copyUIDGID")
        )
    return web.Response(status=200)


async def export(request: web.Request) -> web.StreamResponse:
    import tempfile

    with tempfile.TemporaryFile(dir=backend_of(request).config.data_root) as spool:
        await files(request).export(request.match_info["id"], spool)
        spool.seek(0)
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await response.prepare(request)
        while chunk := await asyncio.to_thread(spool.read, 1024 * 1024):
            await response.write(chunk)
        await response.write_eof()
    return response


async def changes(request: web.Request) -> web.Response:
    return json_response(files(request).changes(request.match_info["id"]))


async def update(request: web.Request) -> web.Response:
    body = await read_json(request)
    warnings = await service(request).update(request.match_info["id"], body)
    return json_response({"Warnings": warnings})


ROUTES = [
    ("POST", "/commit", commit),
    ("POST", "/containers/prune", prune),
    ("POST", "/containers/create", create),
    ("GET", "/containers/json", list_containers),
    ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/wait", wait),
    ("DELETE", "/containers/{id}", remove),
    ("DELETE", "/containers/{parent}/{alias}", remove_link),
    ("POST", "/containers/{id}/resize", resize),
    ("GET", "/containers/{id}/logs", logs),
    ("POST", "/containers/{id}/attach", attach),
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/rename", rename),
    ("POST", "/containers/{id}/update", update),
    ("GET", "/containers/{id}/top", top),
    ("GET", "/containers/{id}/stats", stats),
    ("HEAD", "/containers/{id}/archive", archive_head),
    ("GET", "/containers/{id}/archive", archive_get),
    ("PUT", "/containers/{id}/archive", archive_put),
    ("GET", "/containers/{id}/export", export),
    ("GET", "/containers/{id}/changes", changes),
]
