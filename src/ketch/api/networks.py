"""Network routes: create, list, inspect, remove, prune, connect and disconnect."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ketch.api.backend import NetworksBackend
from ketch.api.filters import check_keys, query_filters
from ketch.api.http import backend_of, json_response, parse_time_param, query_bool, read_json
from ketch.containers import schema
from ketch.errors import InvalidArgument, NotFound
from ketch.network.model import Endpoint, Network
from ketch.timestamps import parse_rfc3339

PREDEFINED = ("bridge", "host", "none")
LIST_FILTERS = {"dangling", "driver", "id", "label", "name", "scope", "type"}
PRUNE_FILTERS = {"label", "label!", "until"}
CREATE_BODY = {
    "Name": schema.STR, "CheckDuplicate": schema.BOOL, "Driver": schema.STR,
    "Scope": schema.STR, "Internal": schema.BOOL, "Attachable": schema.BOOL,
    "Ingress": schema.BOOL, "ConfigOnly": schema.BOOL, "ConfigFrom": schema.OBJ,
    "IPAM": schema.OBJ, "EnableIPv4": schema.BOOL, "EnableIPv6": schema.BOOL,
    "Options": schema.OBJ, "Labels": schema.OBJ,
}  # fmt: skip


def service(request: web.Request) -> NetworksBackend:
    return backend_of(request).networks


def network_view(
    network: Network, endpoints: list[Endpoint], names: dict[str, str]
) -> dict[str, Any]:
    """A network as dockerd shows it; `names`: container id -> its name."""
    config: list[dict[str, Any]] = (
        [{"Subnet": network.subnet, "Gateway": network.gateway}] if network.subnet else []
    )
    if config and network.ip_range:
        config[0]["IPRange"] = network.ip_range
    if config and network.aux_addresses:
        config[0]["AuxiliaryAddresses"] = dict(network.aux_addresses)
    # The options as given (the default bridge's are dockerd's own): clients such as
    # compose compare them with what they asked for and recreate a network that differs.
    options = dict(network.options)
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv4": True,
        "EnableIPv6": False,
        # Kept as given, as dockerd's default IPAM driver does (compose compares them).
        "IPAM": {"Driver": "default", "Options": dict(network.ipam_options) or None,
                 "Config": config},  # fmt: skip
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {
            e.container_id: {
                "Name": names.get(e.container_id, ""),
                "EndpointID": e.endpoint_id,
                "MacAddress": e.mac,
                "IPv4Address": f"{e.ip}/{e.prefix_len}",
                "IPv6Address": "",
            }
            for e in endpoints
        },
        "Options": options,
        "Labels": dict(network.labels),
    }


def _names(request: web.Request, endpoints: list[Endpoint]) -> dict[str, str]:
    containers = backend_of(request).containers
    names = {}
    for endpoint in endpoints:
        try:
            names[endpoint.container_id] = containers.get(endpoint.container_id).name.lstrip("/")
        except NotFound:
            names[endpoint.container_id] = ""
    return names


def _view(request: web.Request, network: Network) -> dict[str, Any]:
    endpoints = service(request).endpoints_on(network.id)
    return network_view(network, endpoints, _names(request, endpoints))


def _matches(network: Network, filters: dict[str, list[str]], in_use: bool) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "name" and not any(v in network.name for v in values):
            return False
        if key == "id" and not any(network.id.startswith(v) for v in values):
            return False
        if key == "driver" and network.driver not in values:
            return False
        if key == "scope" and "local" not in values:
            return False
        if key == "type":
            kind = "builtin" if network.name in PREDEFINED else "custom"
            if any(v not in ("builtin", "custom") for v in values):
                raise InvalidArgument(f"invalid filter: 'type'='{values[0]}'")
            if kind not in values:
                return False
        if key == "dangling":
            wanted = values[0].lower()
            if wanted not in ("true", "1", "false", "0"):
                raise InvalidArgument(f"invalid filter 'dangling={values[0]}'")
            if (wanted in ("true", "1")) == (in_use or network.name in PREDEFINED):
                return False
        if key in ("label", "label!"):
            for wanted_label in values:
                k, sep, v = wanted_label.partition("=")
                has = k in network.labels and (not sep or network.labels[k] == v)
                if has != (key == "label"):
                    return False
    return True


async def list_networks(request: web.Request) -> web.Response:
    filters = query_filters(request)
    check_keys(filters, LIST_FILTERS)
    networks = service(request)
    rows = []
    for network in networks.list():
        endpoints = networks.endpoints_on(network.id)
        if _matches(network, filters, bool(endpoints)):
            rows.append(network_view(network, endpoints, _names(request, endpoints)))
    return json_response(rows)


async def inspect(request: web.Request) -> web.Response:
    query_bool(request, "verbose")  # swarm's service details: none on a local engine
    return json_response(_view(request, service(request).get(request.match_info["id"])))


async def create(request: web.Request) -> web.Response:
    body = await read_json(request)
    schema.check("NetworkCreateRequest", body, CREATE_BODY)
    name = str(body.get("Name") or "")
    if not name:
        raise InvalidArgument("network name is required")  # dockerd's 400 for no Name
    if body.get("EnableIPv6"):
        raise InvalidArgument("IPv6 is not supported by ketch's networks yet")
    ipam = body.get("IPAM") or {}
    configs = list(ipam.get("Config") or [])
    if len(configs) > 1:
        raise InvalidArgument("ketch's networks take one IPv4 subnet")
    config = dict(configs[0] or {}) if configs else {}
    # The network part speaks netlink synchronously: off the event loop.
    network = await asyncio.to_thread(
        service(request).create,
        name,
        driver=str(body.get("Driver") or "bridge"),
        subnet=str(config.get("Subnet") or ""),
        gateway=str(config.get("Gateway") or ""),
        ip_range=str(config.get("IPRange") or ""),
        internal=bool(body.get("Internal")),
        attachable=bool(body.get("Attachable")),
        labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
        options={str(k): str(v) for k, v in (body.get("Options") or {}).items()},
        aux_addresses={str(k): str(v) for k, v in (config.get("AuxiliaryAddresses") or {}).items()},
        ipam_options={str(k): str(v) for k, v in (ipam.get("Options") or {}).items()},
    )
    return json_response({"Id": network.id, "Warning": ""}, status=201)


async def remove(request: web.Request) -> web.Response:
    await asyncio.to_thread(service(request).remove, request.match_info["id"])
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    filters = query_filters(request)
    check_keys(filters, PRUNE_FILTERS)
    until = [parse_time_param(v) for v in filters.get("until", [])]
    networks = service(request)
    deleted = []
    for network in networks.list():
        if network.name in PREDEFINED or networks.endpoints_on(network.id):
            continue
        created = parse_rfc3339(network.created) or 0.0
        if any(moment is not None and created >= moment for moment in until):
            continue
        if not _matches(network, {k: v for k, v in filters.items() if k != "until"}, False):
            continue
        await asyncio.to_thread(networks.remove, network.id)
        deleted.append(network.name)
    return json_response({"NetworksDeleted": deleted or None})


async def _container_and_network(
    request: web.Request, struct: str, fields: dict[str, str]
) -> tuple[dict[str, Any], str, Network]:
    """connect's and disconnect's body: which container, on which network (checked)."""
    body = await read_json(request)
    schema.check(struct, body, {"Container": schema.STR, **fields})
    container = str(body.get("Container") or "")
    if not container:
        raise InvalidArgument("container is required")
    return body, container, service(request).get(request.match_info["id"])


async def connect(request: web.Request) -> web.Response:
    body, container, network = await _container_and_network(
        request, "NetworkConnectRequest", {"EndpointConfig": schema.OBJ}
    )
    await backend_of(request).containers.connect(
        container, network.name, body.get("EndpointConfig") or {}
    )
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    body, container, network = await _container_and_network(
        request, "NetworkDisconnectRequest", {"Force": schema.BOOL}
    )
    await backend_of(request).containers.disconnect(
        container, network.name, bool(body.get("Force"))
    )
    return web.Response(status=200)


ROUTES = [
    ("GET", "/networks", list_networks),
    ("POST", "/networks/create", create),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{id}", inspect),
    ("DELETE", "/networks/{id}", remove),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
]
