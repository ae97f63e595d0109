"""Network routes, as far as ketch has networks: `host` and `none`.

A container either shares the host's network or gets its own namespace with
loopback only; the list says so instead of pretending to a bridge.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ketch.api.http import json_response
from ketch.containers.views import network_id
from ketch.errors import NotFound


def _stable_id(name: str) -> str:
    return network_id(name)  # the same ID containers' NetworkSettings show


NETWORKS = {
    "host": {"Driver": "host", "Id": _stable_id("host")},
    "none": {"Driver": "null", "Id": _stable_id("none")},
}


def network_view(name: str) -> dict[str, Any]:
    info = NETWORKS[name]
    return {
        "Name": name,
        "Id": info["Id"],
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": info["Driver"],
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": {},
        "Labels": {},
    }


async def list_networks(request: web.Request) -> web.Response:
    return json_response([network_view(name) for name in NETWORKS])


async def inspect(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    for name, info in NETWORKS.items():
        if wanted in (name, info["Id"]) or info["Id"].startswith(wanted):
            return json_response(network_view(name))
    raise NotFound(f"network {wanted} not found")


async def prune(request: web.Request) -> web.Response:
    return json_response({"NetworksDeleted": None})


ROUTES = [
    ("GET", "/networks", list_networks),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{id}", inspect),
]
