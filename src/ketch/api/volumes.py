"""Volume routes: create, list, inspect, remove, prune (the `local` driver's volumes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ketch.api.backend import VolumesBackend
from ketch.api.filters import bool_or_default, check_keys, query_filters
from ketch.api.http import backend_of, json_response, query_bool, read_json
from ketch.api.versioning import parse as parse_version
from ketch.containers import schema
from ketch.errors import InvalidArgument, Unavailable
from ketch.volumes.filters import LIST_FILTERS, PRUNE_FILTERS

CREATE_BODY = {
    "Name": schema.STR, "Driver": schema.STR, "DriverOpts": schema.OBJ, "Labels": schema.OBJ,
    "ClusterVolumeSpec": schema.OBJ,
}  # fmt: skip


def service(request: web.Request) -> VolumesBackend:
    return backend_of(request).volumes


def _strings(what: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(f"invalid {what}: values must be strings")
    return {str(k): v for k, v in value.items()}


async def list_volumes(request: web.Request) -> web.Response:
    filters = query_filters(request)
    check_keys(filters, LIST_FILTERS)
    dangling = bool_or_default(filters, "dangling", False) if "dangling" in filters else None
    volumes = service(request).list(filters, dangling)
    return json_response({"Volumes": volumes, "Warnings": None})


async def create(request: web.Request) -> web.Response:
    body = await read_json(request)
    schema.check("VolumeCreateOptions", body, CREATE_BODY)
    if body.get("ClusterVolumeSpec"):
        raise Unavailable("This node is not a swarm manager. Cluster volumes can only be "
                          "created on a swarm manager.")  # fmt: skip
    volume = service(request).create(
        name=body.get("Name") or "",
        driver=body.get("Driver") or "",
        options=_strings("driver options", body.get("DriverOpts") or {}),
        labels=_strings("labels", body.get("Labels") or {}),
    )
    return json_response(volume, status=201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(service(request).inspect(request.match_info["name"]))


async def remove(request: web.Request) -> web.Response:
    service(request).remove(request.match_info["name"], force=query_bool(request, "force"))
    return web.Response(status=204)


async def update(request: web.Request) -> web.Response:
    raise Unavailable(
        'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
        "to connect this node to swarm and try again."
    )


async def prune(request: web.Request) -> web.Response:
    filters = query_filters(request)
    check_keys(filters, PRUNE_FILTERS)
    # API 1.42 made prune take anonymous volumes only; older clients get every unused one.
    old_client = parse_version(request.get("api_version") or "1.45") < parse_version("1.42")
    every = bool_or_default(filters, "all", False) or old_client
    return json_response(service(request).prune(filters, every))


ROUTES = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("PUT", "/volumes/{name}", update),
    ("DELETE", "/volumes/{name}", remove),
]
