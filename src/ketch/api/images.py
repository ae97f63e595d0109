"""Image routes: pull (streamed JSON progress), list, inspect, remove, tag, history."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

from aiohttp import web

from ketch.api.server import backend_of, query_bool
from ketch.errors import InvalidArgument, KetchError, NotImplementedYet


def service(request: web.Request) -> Any:
    return backend_of(request).image_service()


def registry_auth(request: web.Request) -> dict[str, Any] | None:
    """X-Registry-Auth: base64url (padding optional) JSON AuthConfig."""
    header = request.headers.get("X-Registry-Auth")
    if not header:
        return None
    padded = header + "=" * (-len(header) % 4)
    try:
        value = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        raise InvalidArgument("invalid X-Registry-Auth header") from None
    if not isinstance(value, dict):
        raise InvalidArgument("invalid X-Registry-Auth header")
    return {k: v for k, v in value.items() if v} or None


def pull_reference(from_image: str, tag: str) -> str:
    """fromImage plus tag as Docker joins them; a digest "tag" becomes @digest."""
    if not tag:
        return from_image
    if tag.startswith("sha256:"):
        return f"{from_image}@{tag}"
    return f"{from_image}:{tag}"


async def create(request: web.Request) -> web.StreamResponse:
    if request.query.get("fromSrc"):
        raise NotImplementedYet("image import (fromSrc) is not supported by ketch yet")
    from_image = request.query.get("fromImage", "")
    if not from_image:
        raise InvalidArgument("fromImage or fromSrc is required")
    ref = pull_reference(from_image, request.query.get("tag", ""))
    images = service(request)
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    task = asyncio.create_task(images.pull(ref, queue.put_nowait, auth=registry_auth(request)))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    # An error before any progress (unknown image, refused auth) gets its own status,
    # as dockerd answers it; once progress flows, errors go in the stream.
    first = await queue.get()
    if first is None and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    try:
        item = first
        while item is not None:
            await response.write(json.dumps(item).encode() + b"\r\n")
            item = await queue.get()
        error = task.exception()
        if error is not None:
            message = error.message if isinstance(error, KetchError) else str(error)
            line = {"errorDetail": {"message": message}, "error": message}
            await response.write(json.dumps(line).encode() + b"\r\n")
    except (ConnectionError, asyncio.CancelledError):
        task.cancel()
        raise
    await response.write_eof()
    return response


async def list_images(request: web.Request) -> web.Response:
    backend = backend_of(request)
    images = service(request)
    rows = [summary(image, backend) for image in images.list()]
    if not query_bool(request, "all"):
        rows = [row for row in rows if row["RepoTags"] or row["RepoDigests"]] or rows
    return web.json_response(rows)


def summary(image: Any, backend: Any) -> dict[str, Any]:
    from ketch.images.views import summary_view

    users = -1
    if backend.containers is not None:
        users = len(backend.containers.image_in_use(image.id))
    return summary_view(image, users)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(service(request).inspect(request.match_info["name"]))


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    force = query_bool(request, "force")
    images = service(request)
    deleted = images.remove(name, force, not query_bool(request, "noprune"))
    if asyncio.iscoroutine(deleted):
        deleted = await deleted
    return web.json_response(deleted)


async def tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo", "")
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    result = service(request).tag(request.match_info["name"], repo, request.query.get("tag") or "")
    if asyncio.iscoroutine(result):
        await result
    return web.Response(status=201)


async def history(request: web.Request) -> web.Response:
    return web.json_response(service(request).history(request.match_info["name"]))


ROUTES = [
    ("POST", "/images/create", create),
    ("GET", "/images/json", list_images),
    ("GET", "/images/{name:.+}/json", inspect),
    ("GET", "/images/{name:.+}/history", history),
    ("POST", "/images/{name:.+}/tag", tag),
    ("DELETE", "/images/{name:.+}", remove),
]
