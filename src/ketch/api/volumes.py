"""Volume routes while ketch has bind and tmpfs mounts only: no named volume exists,
so the list is empty and a prune frees nothing; creating one is refused clearly."""

from __future__ import annotations

from aiohttp import web

from ketch.api.http import json_response
from ketch.errors import NotFound, NotImplementedYet


async def list_volumes(request: web.Request) -> web.Response:
    return json_response({"Volumes": [], "Warnings": None})


async def create(request: web.Request) -> web.Response:
    raise NotImplementedYet("named volumes are not supported by ketch yet")


async def inspect(request: web.Request) -> web.Response:
    raise NotFound(f"get {request.match_info['name']}: no such volume")


async def prune(request: web.Request) -> web.Response:
    return json_response({"VolumesDeleted": None, "SpaceReclaimed": 0})


ROUTES = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", inspect),  # the same 404: there is none to remove
]
