"""Image routes: pull (streamed JSON progress), list, inspect, remove, tag, history."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from ketch.api import compat
from ketch.api.backend import Backend, ImagesBackend
from ketch.api.filters import bool_or_default, check_keys, query_filters
from ketch.api.http import backend_of, json_response, query_bool
from ketch.containers import schema
from ketch.containers.changes import apply_changes
from ketch.errors import InvalidArgument, KetchError, NotImplementedYet
from ketch.images.model import Image
from ketch.images.progress import Progress
from ketch.oci import reference as oci_reference


def service(request: web.Request) -> ImagesBackend:
    return backend_of(request).images


BAD_AUTH = "invalid X-Registry-Auth header"  # dockerd's prefix, for the /auth body too
# registry.AuthConfig's fields, every one a string.
AUTH_CONFIG = {name: schema.STR for name in (
    "username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken",
)}  # fmt: skip


def registry_auth(request: web.Request) -> dict[str, Any] | None:
    """X-Registry-Auth: base64url (padding optional) JSON AuthConfig."""
    header = request.headers.get("X-Registry-Auth")
    if not header:
        return None
    padded = header + "=" * (-len(header) % 4)
    try:
        decoded = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{BAD_AUTH}: must be a valid base64url-encoded string") from None
    try:
        value = json.loads(decoded.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidArgument(f"{BAD_AUTH}: invalid JSON") from None
    if value is None:  # Go decodes null into an empty AuthConfig
        return None
    check_auth_config(value)
    return {k: v for k, v in value.items() if v} or None


def check_auth_config(value: Any) -> None:
    """dockerd's 400 for an AuthConfig of the wrong shape: 'invalid X-Registry-Auth header:
    invalid JSON: json: cannot unmarshal number into Go struct field
    AuthConfig.username of type string'."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{BAD_AUTH}: invalid JSON: json: cannot unmarshal "
                              f"{schema.json_kind(value)} into Go value of type "
                              "registry.AuthConfig")  # fmt: skip
    try:
        schema.check("AuthConfig", value, AUTH_CONFIG)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{BAD_AUTH}: invalid JSON: {exc.message}") from None


def parse_platform(text: str) -> dict[str, str] | None:
    """ "linux/arm64/v8" -> {"os": "linux", "architecture": "arm64", "variant": "v8"}."""
    if not text:
        return None
    parts = text.lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid '
                              "argument")  # fmt: skip
    found = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        found["variant"] = parts[2]
    return found


def pull_reference(from_image: str, tag: str) -> str:
    """fromImage plus tag as Docker joins them; a digest "tag" becomes @digest."""
    if not tag:
        return from_image
    if tag.startswith("sha256:"):
        return f"{from_image}@{tag}"
    return f"{from_image}:{tag}"


async def stream_progress(
    request: web.Request,
    work: Callable[[Progress], Coroutine[Any, Any, Any]],
    errors_in_stream: bool = False,
) -> web.StreamResponse:
    """Run `work(progress)` and stream its progress messages as JSON lines.

    An error before any progress (unknown image, refused auth) gets its own
    status, as dockerd answers it, unless `errors_in_stream`; once progress
    flows, errors go in the stream.
    """
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    task: asyncio.Task[Any] = asyncio.create_task(work(queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    first = await queue.get()
    failure = task.exception() if first is None else None
    if failure is not None and not errors_in_stream:
        raise failure
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


async def create(request: web.Request) -> web.StreamResponse:
    """Pull (fromImage) or import a root filesystem tar from the body (fromSrc=-)."""
    images = service(request)
    if request.query.get("fromSrc"):
        return await import_rootfs(request, images)
    from_image = request.query.get("fromImage", "")
    if not from_image:
        raise InvalidArgument("fromImage or fromSrc is required")
    ref = pull_reference(from_image, request.query.get("tag", ""))
    auth = registry_auth(request)
    platform = parse_platform(request.query.get("platform", ""))

    async def pull(progress: Callable[[dict[str, Any]], None]) -> Any:
        if platform is None:
            image = await images.pull(ref, progress, auth=auth)
        else:
            image = await images.pull(ref, progress, auth=auth, platform=platform)
        image_event(request, "pull", ref, image)
        return image

    return await stream_progress(request, pull)


def image_event(request: web.Request, action: str, name: str, image: Image | None = None) -> None:
    """As dockerd logs them: a pull's actor is the familiar reference (`busybox:latest`,
    name `busybox`); a tag's name is the familiar new tag."""
    actor_id = image.id if image is not None else name
    if action in ("pull", "tag"):
        try:
            ref = oci_reference.parse(name)
        except InvalidArgument:
            ref = None
        if ref is not None:
            name = ref.familiar_name if action == "pull" else ref.familiar()
            if action == "pull":
                actor_id = ref.familiar()
    backend_of(request).events.publish("image", action, actor_id, {"name": name})


async def import_rootfs(request: web.Request, images: ImagesBackend) -> web.StreamResponse:
    if request.query["fromSrc"] != "-":
        raise NotImplementedYet("importing from a URL is not supported by ketch yet")
    path = await save_body(request)
    try:
        changes = [change for change in request.query.getall("changes", []) if change]
        image = await images.import_rootfs(
            path,
            repo=request.query.get("repo") or None,
            tag=request.query.get("tag") or None,
            container_config=apply_changes({}, changes) if changes else None,
            message=request.query.get("message", ""),
        )
    finally:
        path.unlink(missing_ok=True)
    return json_response({"status": image.id})


async def save_body(request: web.Request) -> Path:
    """The request body in a temp file under the data root (archives can be large)."""
    directory = backend_of(request).config.data_root / "tmp"
    directory.mkdir(exist_ok=True)
    handle, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.content.iter_chunked(1024 * 1024):
                await asyncio.to_thread(out.write, chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


async def push(request: web.Request) -> web.StreamResponse:
    images = service(request)
    name = request.match_info["name"]
    tag = request.query.get("tag") or None
    auth = registry_auth(request)
    return await stream_progress(request, lambda progress: images.push(name, tag, progress, auth))


async def save(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", []) or (
        [request.match_info["name"]] if "name" in request.match_info else []
    )
    if not names:
        raise InvalidArgument("no images given to save")
    images = service(request)
    directory = backend_of(request).config.data_root / "tmp"
    directory.mkdir(exist_ok=True)
    with tempfile.TemporaryFile(dir=directory) as spool:
        await images.save(names, spool)
        spool.seek(0)
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await response.prepare(request)
        while chunk := await asyncio.to_thread(spool.read, 1024 * 1024):
            await response.write(chunk)
        await response.write_eof()
    return response


async def load(request: web.Request) -> web.StreamResponse:
    """`docker load`: as dockerd, the answer is 200 and a bad archive's error is in the
    stream (docker-py raises ImageLoadError from it); `quiet` hides progress bars only,
    which ketch does not send, so the "Loaded image" lines come either way."""
    images = service(request)
    path = await save_body(request)

    async def work(progress: Callable[[dict[str, Any]], None]) -> Any:
        try:
            return await images.load(path, progress)
        finally:
            path.unlink(missing_ok=True)

    return await stream_progress(request, work, errors_in_stream=True)


# What dockerd's image prune accepts; any other key is refused, not ignored.
PRUNE_FILTERS = {"dangling", "label", "label!", "until"}


async def prune(request: web.Request) -> web.Response:
    filters = query_filters(request)
    check_keys(filters, PRUNE_FILTERS)
    dangling_only = bool_or_default(filters, "dangling", True)
    wanted: dict[str, list[str]] = {
        key: filters[key] for key in ("label", "label!", "until") if key in filters
    }
    result = service(request).prune(dangling_only, wanted)
    return json_response(result)


async def list_images(request: web.Request) -> web.Response:
    from ketch.images import filters as image_filters

    backend = backend_of(request)
    images = service(request)
    filters = image_filters.normalise(query_filters(request))
    rows = [summary(image, backend) for image in images.list()]
    if not query_bool(request, "all"):
        rows = [row for row in rows if row["RepoTags"] or row["RepoDigests"]] or rows

    def created_of(name: str) -> int:
        return int(summary(images.get(name), backend)["Created"])

    rows = image_filters.apply(rows, filters, created_of)
    return json_response(compat.image_summaries(rows, request["api_version"]))


def summary(image: Image, backend: Backend) -> dict[str, Any]:
    from ketch.images.views import summary_view

    return summary_view(image, len(backend.containers.image_in_use(image.id)))


async def inspect(request: web.Request) -> web.Response:
    view = service(request).inspect(request.match_info["name"])
    return json_response(compat.image_inspect(view, request["api_version"]))


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    force = query_bool(request, "force")
    images = service(request)
    deleted = images.remove(name, force, not query_bool(request, "noprune"))
    if asyncio.iscoroutine(deleted):
        deleted = await deleted
    for item in deleted:
        for key, action in (("Untagged", "untag"), ("Deleted", "delete")):
            if key in item and (key != "Deleted" or item[key].startswith("sha256:")):
                image_event(request, action, item[key])
    return json_response(deleted)


async def tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo", "")
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    tag_name = request.query.get("tag") or ""
    result = service(request).tag(request.match_info["name"], repo, tag_name)
    if asyncio.iscoroutine(result):
        result = await result
    image_event(request, "tag", f"{repo}:{tag_name or 'latest'}", result)
    return web.Response(status=201)


async def history(request: web.Request) -> web.Response:
    return json_response(service(request).history(request.match_info["name"]))


async def distribution(request: web.Request) -> web.Response:
    """`GET /distribution/{name}/json` (docker's --platform checks, compose): the registry's
    descriptor of `name` and its platforms, with the caller's credentials."""
    found = await service(request).distribution(
        request.match_info["name"], auth=registry_auth(request)
    )
    return json_response(found)


ROUTES = [
    ("GET", "/distribution/{name:.+}/json", distribution),
    ("POST", "/images/create", create),
    ("POST", "/images/load", load),
    ("GET", "/images/get", save),
    ("POST", "/images/prune", prune),
    ("GET", "/images/json", list_images),
    ("GET", "/images/{name:.+}/json", inspect),
    ("GET", "/images/{name:.+}/history", history),
    ("POST", "/images/{name:.+}/tag", tag),
    ("POST", "/images/{name:.+}/push", push),
    ("GET", "/images/{name:.+}/get", save),
    ("DELETE", "/images/{name:.+}", remove),
]
