"""Build routes: `POST /build` (Docker's legacy builder API: the context tar in, the
builder's JSON messages out), `POST /build/prune`, and `POST /session`, BuildKit's,
answered as a dockerd without BuildKit answers it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

from aiohttp import web

from ketch.api.filters import check_keys, query_filters
from ketch.api.http import backend_of, json_response, query_bool
from ketch.build.options import BuildOptions
from ketch.containers.schema import json_kind
from ketch.errors import InvalidArgument, KetchError, NotImplementedYet
from ketch.oci import reference
from ketch.timestamps import parse_docker_time

# How often a build that prints nothing (a long RUN) looks whether its client is still
# there: aiohttp does not cancel a handler when its client hangs up.
CLIENT_CHECK = 1.0
BODY_CHUNK = 256 * 1024
GO_INT64 = range(-(2**63), 2**63)


def go_bool(request: web.Request, name: str) -> bool:
    """httputils.BoolValue: anything but ""/0/no/false/none (any case) is true."""
    raw = request.query.get(name, "")
    return raw.strip().lower() not in ("", "0", "no", "false", "none")


def int_or_zero(request: web.Request, name: str) -> int | None:
    """httputils.Int64ValueOrZero: a value Go cannot read is 0, not an error; absent is None."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw, 10)
    except ValueError:
        return 0
    return value if value in GO_INT64 and raw.strip() == raw and "_" not in raw else 0


def decode_json(raw: str, what: str, expected: str) -> Any:
    """A JSON query value, with dockerd's 400: "error reading build args: ..."; `expected`
    is the Go type it decodes into: "map[string]*string", "map[string]string", "[]string",
    "[]*container.Ulimit"."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidArgument(f"{what}: invalid JSON: {exc}") from None
    if value is None:
        return None
    container = "object" if expected.startswith("map") else "array"
    if json_kind(value) != container:
        raise InvalidArgument(
            f"{what}: json: cannot unmarshal {json_kind(value)} into Go value of type {expected}"
        )
    if expected.startswith("map"):
        for key, item in value.items():
            if item is not None and not isinstance(item, str):
                raise InvalidArgument(f"{what}: json: cannot unmarshal {json_kind(item)} into "
                                      f"Go value of type string (key {key!r})")  # fmt: skip
    elif expected == "[]string":
        for item in value:
            if item is not None and not isinstance(item, str):
                raise InvalidArgument(f"{what}: json: cannot unmarshal {json_kind(item)} into "
                                      "Go value of type string")  # fmt: skip
    return value


BAD_ULIMITS = "error reading ulimit settings: json: cannot unmarshal"


def parse_ulimits(raw: str) -> list[dict[str, Any]]:
    value = decode_json(raw, "error reading ulimit settings", "[]*container.Ulimit") or []
    ulimits = []
    for item in value:
        if item is None:
            continue
        if not isinstance(item, dict):
            found = json_kind(item)
            raise InvalidArgument(f"{BAD_ULIMITS} {found} into Go value of type container.Ulimit")
        for field, wanted in (("Name", str), ("Hard", int), ("Soft", int)):
            given = item.get(field)
            if given is not None and (not isinstance(given, wanted) or isinstance(given, bool)):
                go_type = "string" if wanted is str else "int64"
                raise InvalidArgument(f"{BAD_ULIMITS} {json_kind(given)} into Go struct field "
                                      f"Ulimit.{field} of type {go_type}")  # fmt: skip
        ulimits.append({"Name": item.get("Name") or "", "Hard": item.get("Hard") or 0,
                        "Soft": item.get("Soft") or 0})  # fmt: skip
    return ulimits


def check_tags(tags: list[str]) -> None:
    """What dockerd's tagger refuses before the build starts."""
    for tag in tags:
        ref = reference.parse(tag)
        if ref.digest is not None:
            raise InvalidArgument("build tag cannot contain a digest")


def registry_config(header: str | None) -> dict[str, dict[str, Any]]:
    """X-Registry-Config: base64url JSON {registry: AuthConfig}, padded or not. As dockerd,
    a header it cannot read is no credentials, not an error (a pull without auth may
    still succeed)."""
    if not header:
        return {}
    text = header.strip()
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        value = json.loads(decoded.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        registry: {key: item for key, item in auth.items() if item not in (None, "")}
        for registry, auth in value.items()
        if isinstance(auth, dict)
    }


def build_options(request: web.Request) -> BuildOptions:
    """The query of `POST /build` as dockerd's newImageBuildOptions reads it."""
    query = request.query
    if query.getall("securityopt", []):
        raise InvalidArgument("security options are not supported on linux")
    isolation = query.get("isolation", "")
    if isolation and isolation.lower() != "default":
        raise InvalidArgument(f'unsupported isolation: "{isolation}"')
    options = BuildOptions(
        dockerfile=query.get("dockerfile") or "Dockerfile",
        tags=[tag for tag in query.getall("t", []) if tag],
        quiet=go_bool(request, "q"),
        no_cache=go_bool(request, "nocache"),
        pull=go_bool(request, "pull"),
        # forcerm implies rm; rm is on unless asked off
        remove=go_bool(request, "forcerm") or query.get("rm", "") == "" or go_bool(request, "rm"),
        force_remove=go_bool(request, "forcerm"),
        target=query.get("target") or None,
        network_mode=query.get("networkmode") or None,
        extra_hosts=query.getall("extrahosts", []),
        memory=int_or_zero(request, "memory"),
        memory_swap=int_or_zero(request, "memswap"),
        cpu_shares=int_or_zero(request, "cpushares"),
        cpu_period=int_or_zero(request, "cpuperiod"),
        cpu_quota=int_or_zero(request, "cpuquota"),
        cpuset_cpus=query.get("cpusetcpus") or None,
        cpuset_mems=query.get("cpusetmems") or None,
        platform=query.get("platform") or None,
    )
    if shm := query.get("shmsize"):
        try:
            options.shm_size = int(shm, 10)
        except ValueError:
            raise InvalidArgument(f'strconv.ParseInt: parsing "{shm}": invalid syntax') from None
    if raw := query.get("ulimits"):
        options.ulimits = parse_ulimits(raw)
    if raw := query.get("buildargs"):
        build_args = decode_json(raw, "error reading build args", "map[string]*string")
        options.build_args = build_args or {}
    if raw := query.get("labels"):
        labels = decode_json(raw, "error reading labels", "map[string]string") or {}
        options.labels = {key: value or "" for key, value in labels.items()}
    if raw := query.get("cachefrom"):
        cache_from = decode_json(raw, "error reading cache-from", "[]string") or []
        options.cache_from = [item or "" for item in cache_from]
    if raw := query.get("outputs"):
        outputs = decode_json(raw, "invalid outputs specified", "[]build.BuildOutput")
        if outputs:
            raise InvalidArgument("outputs are only supported by BuildKit, which this ketchd "
                                  "does not run")  # fmt: skip
    check_tags(options.tags)
    options.registry_auths = registry_config(request.headers.get("X-Registry-Config"))
    return options


def check_builder_version(request: web.Request) -> None:
    version = request.query.get("version", "")
    if version not in ("", "1", "2"):
        raise InvalidArgument(f'invalid version "{version}"')
    if go_bool(request, "squash"):  # dockerd without --experimental
        raise InvalidArgument("squash is only supported with experimental mode")
    if version == "2":
        raise InvalidArgument("buildkit is not enabled on daemon")


async def request_body(request: web.Request) -> AsyncIterator[bytes]:
    """The context as it arrives; a client that leaves mid-upload raises here."""
    async for chunk in request.content.iter_chunked(BODY_CHUNK):
        yield chunk


def client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


class ClientGone(Exception):
    pass


async def pull(messages: AsyncIterator[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return await anext(messages)
    except StopAsyncIteration:
        return None


async def next_message(request: web.Request, messages: AsyncIterator[dict[str, Any]]
                       ) -> dict[str, Any] | None:  # fmt: skip
    """The builder's next message, None at its end; while it works silently, the client is
    watched, and its leaving cancels the build where it waits."""
    step = asyncio.ensure_future(pull(messages))
    try:
        while True:
            done, _ = await asyncio.wait({step}, timeout=CLIENT_CHECK)
            if done:
                return step.result()
            if client_gone(request):
                raise ClientGone()
    finally:
        if not step.done():
            step.cancel()
            with suppress(BaseException):
                await step


def error_line(message: str) -> dict[str, Any]:
    return {"errorDetail": {"message": message}, "error": message}


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\r\n"


async def build(request: web.Request) -> web.StreamResponse:
    """Stream the builder's messages as dockerd does. An error before the first message
    gets its own status (dockerd answers one before anything is flushed); after, it is the
    stream's last line. With q=1 the messages are held back and only the image ID is
    sent, or, on failure, everything held back and the error."""
    builder = backend_of(request).build_service
    if builder is None:
        raise NotImplementedYet("this ketchd has no builder: building images is not "
                                "supported by this daemon")  # fmt: skip
    options = build_options(request)
    check_builder_version(request)
    if remote := request.query.get("remote"):
        raise NotImplementedYet(f"remote build contexts are not supported by ketch: {remote}: "
                                "send the context in the request body")  # fmt: skip
    messages = builder.build(options, request_body(request))
    response: web.StreamResponse | None = None
    held: list[dict[str, Any]] = []
    image_id = ""
    try:
        while True:
            try:
                message = await next_message(request, messages)
            except ClientGone:
                raise
            except Exception as exc:
                if response is None and not held:
                    raise  # nothing sent yet: the middleware answers with its status
                text = exc.message if isinstance(exc, KetchError) else str(exc)
                message = error_line(text or type(exc).__name__)
            if message is None:
                break
            failed = "errorDetail" in message or "error" in message
            aux = message.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                image_id = aux["ID"]
            if options.quiet and not failed:
                held.append(message)
                continue
            if response is None:
                response = web.StreamResponse(headers={"Content-Type": "application/json"})
                await response.prepare(request)
            for earlier in held:
                await response.write(line(earlier))
            held.clear()
            await response.write(line(message))
            if failed:
                break
        if response is None:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            if options.quiet and image_id:
                await response.write(line({"stream": image_id + "\n"}))
        await response.write_eof()
        return response
    except (ClientGone, ConnectionError):
        if request.transport is not None:
            request.transport.close()
        raise ConnectionResetError("the client went away during the build") from None
    finally:
        aclose = getattr(messages, "aclose", None)
        if aclose is not None:
            with suppress(Exception):
                await aclose()  # a build still under way is cancelled where it waits


# What BuildKit's prune reads (dockerd's builder-next); any other key is refused.
PRUNE_FILTERS = {"id", "parent", "type", "description", "inuse", "shared", "private",
                 "until", "unused-for"}  # fmt: skip


def prune_filters(request: web.Request) -> dict[str, Any]:
    """The filters as the builder gets them: as sent, but `until` (or its older name
    `unused-for`) is one moment, in Unix seconds, before which unused cache goes."""
    filters: dict[str, Any] = dict(query_filters(request))
    check_keys(filters, PRUNE_FILTERS)
    until, unused_for = filters.pop("until", []), filters.pop("unused-for", [])
    if until and unused_for:
        raise InvalidArgument('conflicting filters: "until" and "unused-for"')
    values, key = (until, "until") if until else (unused_for, "unused-for")
    if len(values) > 1:
        raise InvalidArgument("filters expect only one value")
    if values:
        try:
            filters["until"] = parse_docker_time(values[0], time.time())
        except ValueError:
            raise InvalidArgument(f'"{key}" filter expects a duration (e.g., \'24h\') or a '
                                  "timestamp") from None  # fmt: skip
    return filters


def bytes_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return int(raw, 10)
    except ValueError:
        raise InvalidArgument(f"{name} is in bytes and expects an integer, got {raw}") from None


async def prune(request: web.Request) -> web.Response:
    """`docker builder prune`, and a step of `docker system prune`: a ketchd without a
    builder has no cache, so it frees nothing (refusing would fail the whole system
    prune)."""
    filters = prune_filters(request)
    keep = bytes_param(request, "reserved-space") or bytes_param(request, "keep-storage")
    builder = backend_of(request).build_service
    if builder is None:
        return json_response({"CachesDeleted": None, "SpaceReclaimed": 0})
    ids, reclaimed = await builder.prune(
        all=query_bool(request, "all"), filters=filters or None, keep_storage=keep
    )
    return json_response({"CachesDeleted": ids, "SpaceReclaimed": reclaimed})


async def session(request: web.Request) -> web.Response:
    """BuildKit's session endpoint; there is no BuildKit here to call back (the docker
    CLI's legacy builder, the one that talks to this daemon, never opens a session)."""
    raise NotImplementedYet("sessions are for BuildKit, which this ketchd does not run: "
                            "build with the legacy builder (DOCKER_BUILDKIT=0)")  # fmt: skip


ROUTES = [
    ("POST", "/build", build),
    ("POST", "/build/prune", prune),
    ("POST", "/session", session),
]
