"""A container's networking in Docker's model: which networks it joins and with what
names and addresses, which ports it publishes, and the JSON views of it.

Pure logic over Config/HostConfig/NetworkingConfig; the network part does the
links and rules, the supervisor asks it at each start.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any

from ketch import errors
from ketch.network.model import Endpoint, EndpointRequest, PortBinding

DEFAULT_BRIDGE = "bridge"
PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class NetworkPlan:
    """What a container's network namespace gets at start."""

    mode: str  # "bridge" (the default or a user network), "host", "none", "container"
    joins: str = ""  # the container whose namespace "container:<x>" shares
    requests: tuple[EndpointRequest, ...] = ()  # primary network first
    ports: tuple[PortBinding, ...] = ()  # published on the primary network


def mode_of(host_config: dict[str, Any]) -> str:
    """HostConfig.NetworkMode with Docker's default spelled out: "bridge"."""
    mode = str(host_config.get("NetworkMode") or "default")
    return DEFAULT_BRIDGE if mode == "default" else mode


def on_bridge(host_config: dict[str, Any]) -> bool:
    """Whether the container has a network namespace of its own with endpoints on
    bridges (the default bridge or user networks), rather than host, none or another's."""
    mode = mode_of(host_config)
    return mode not in ("host", "none") and not mode.startswith("container:")


def plan(
    config: dict[str, Any],
    host_config: dict[str, Any],
    networking_config: dict[str, Any] | None,
    *,
    stored: bool = False,
) -> NetworkPlan:
    """The container's networks, checked as dockerd checks them at create. `stored`: the
    NetworkingConfig a container keeps (normalised at create, changed by connect and
    disconnect), taken as it is, at start or for a view, where the Hostname create filled
    in (the id's prefix) is no conflict; else a create request's, normalised first."""
    mode = mode_of(host_config)
    if not stored:
        networking_config = normalise(config, host_config, networking_config)
    endpoints = dict((networking_config or {}).get("EndpointsConfig") or {})
    if mode in ("host", "none") or mode.startswith("container:"):
        if host_config.get("PortBindings") or host_config.get("PublishAllPorts"):
            if mode != "none":
                raise errors.InvalidArgument(
                    "conflicting options: port publishing and the container type network mode"
                )
        if mode.startswith("container:"):
            if not stored and config.get("Hostname"):
                raise errors.InvalidArgument(
                    "conflicting options: hostname and the network mode"
                )
            return NetworkPlan("container", joins=mode.partition(":")[2])
        return NetworkPlan(mode)
    links = tuple(str(link) for link in host_config.get("Links") or [])
    dns = tuple(str(server) for server in host_config.get("Dns") or [])
    requests = []
    for name, settings in endpoints.items():
        # On user networks names resolve through DNS; dockerd keeps links for the default.
        # On the default bridge, links are dockerd's legacy ones; on a user network they
        # are names for this container alone (EndpointConfig.Links, and --link with it).
        scoped = tuple(str(link) for link in (settings or {}).get("Links") or []) + links
        request = _request(name, settings or {}, links if name == DEFAULT_BRIDGE else scoped)
        if name == mode and not request.mac_address and config.get("MacAddress"):
            # The old Config.MacAddress (API < 1.44) is the MAC of NetworkMode's endpoint
            # at every start, as dockerd applies it: also after a disconnect and connect
            # of that network (compose does both before its first start).
            request = dataclasses.replace(
                request, mac_address=_request(name, {"MacAddress": config["MacAddress"]},
                                              ()).mac_address,
            )  # fmt: skip
        requests.append(dataclasses.replace(request, dns=dns) if dns else request)
    ports = tuple(ports_of(config, host_config))
    return NetworkPlan("bridge", requests=tuple(requests), ports=ports)


def normalise(
    config: dict[str, Any], host_config: dict[str, Any], networking_config: dict[str, Any] | None
) -> dict[str, Any]:
    """NetworkingConfig as the container keeps it: EndpointsConfig names every network it is
    on, the one of NetworkMode first (the docker CLI's "default" as "bridge"; the old
    Config.MacAddress as its MAC). Connect and disconnect change it, never NetworkMode."""
    normal = dict(networking_config or {})
    mode = mode_of(host_config)
    endpoints = dict(normal.get("EndpointsConfig") or {})
    if mode in ("host", "none") or mode.startswith("container:"):
        return normal
    primary = dict(endpoints.pop(mode, None) or {})
    if mode == DEFAULT_BRIDGE:
        primary = dict(endpoints.pop("default", None) or primary)
    if config.get("MacAddress") and not primary.get("MacAddress"):
        primary["MacAddress"] = config["MacAddress"]
    normal["EndpointsConfig"] = {mode: primary, **endpoints}
    return normal


def endpoint_request(network: str, settings: dict[str, Any]) -> EndpointRequest:
    """An EndpointsConfig entry (docker network connect's EndpointConfig), checked."""
    return _request(network, settings, ())


def _request(network: str, settings: dict[str, Any], links: tuple[str, ...]) -> EndpointRequest:
    aliases = tuple(str(a) for a in settings.get("Aliases") or [])
    if network != DEFAULT_BRIDGE:
        links = links or tuple(str(link) for link in settings.get("Links") or [])
    ipam = settings.get("IPAMConfig") or {}
    address = str(ipam.get("IPv4Address") or "")
    if network == DEFAULT_BRIDGE:
        if aliases:
            raise errors.InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        if address:
            raise errors.InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
    if address:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise errors.InvalidArgument(f"invalid IPv4 address: {address}") from None
    mac = str(settings.get("MacAddress") or "")
    if mac:
        parts = mac.split(":")
        if len(parts) != 6 or not all(len(p) == 2 and _is_hex(p) for p in parts):
            raise errors.InvalidArgument(f"invalid MAC address: {mac}")
    return EndpointRequest(network, aliases, address, mac.lower(), links)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def parse_port_key(key: str) -> tuple[int, str]:
    """"80/tcp" -> (80, "tcp"); Docker's default protocol is tcp."""
    number, _, proto = str(key).partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise errors.InvalidArgument(f"invalid proto: {proto}")
    if not number.isdigit() or not 0 < int(number) < 65536:
        raise errors.InvalidArgument(f"invalid containerPort: {number}")
    return int(number), proto


def exposed_ports(config: dict[str, Any]) -> list[tuple[int, str]]:
    return sorted({parse_port_key(k) for k in (config.get("ExposedPorts") or {})})


def ports_of(config: dict[str, Any], host_config: dict[str, Any]) -> list[PortBinding]:
    """HostConfig.PortBindings, and with PublishAllPorts every exposed port on a free
    host port, as dockerd publishes them."""
    found: list[PortBinding] = []
    for key, bindings in (host_config.get("PortBindings") or {}).items():
        port, proto = parse_port_key(key)
        if proto == "sctp":
            raise errors.NotImplementedYet("publishing sctp ports is not supported by ketch yet")
        for binding in bindings or [{}]:
            host_ip = str((binding or {}).get("HostIp") or "")
            if host_ip:
                try:
                    parsed = ipaddress.ip_address(host_ip)
                except ValueError:
                    raise errors.InvalidArgument(f"invalid host IP: {host_ip}") from None
                if parsed.version == 6:
                    if parsed.is_unspecified:
                        continue  # "::" beside "0.0.0.0": ketch has no IPv6 to publish on
                    raise errors.NotImplementedYet("publishing on IPv6 is not supported yet")
            host_port = str((binding or {}).get("HostPort") or "")
            found.append(PortBinding(port, proto, host_ip, _host_port(host_port)))
    if host_config.get("PublishAllPorts"):
        bound = {(p.container_port, p.proto) for p in found}
        for port, proto in exposed_ports(config):
            if (port, proto) not in bound and proto != "sctp":
                found.append(PortBinding(port, proto))
    return found


def _host_port(text: str) -> int:
    if not text:
        return 0
    low, _, high = text.partition("-")
    if not low.isdigit() or (high and not high.isdigit()) or not 0 <= int(low) < 65536:
        raise errors.InvalidArgument(f"invalid hostPort: {text}")
    if high and high != low:
        raise errors.NotImplementedYet("host port ranges are not supported by ketch yet")
    return int(low)


def ports_view(config: dict[str, Any], endpoints: list[Endpoint]) -> dict[str, Any]:
    """NetworkSettings.Ports: each exposed or published port, with its host bindings (null
    for one exposed only), as `docker port` and `docker inspect` read them."""
    view: dict[str, Any] = {f"{p}/{proto}": None for p, proto in exposed_ports(config)}
    for endpoint in endpoints[:1]:
        for port in endpoint.ports:
            bindings = view.get(port.key) or []
            bindings.append({"HostIp": port.host_ip or "0.0.0.0", "HostPort": str(port.host_port)})
            view[port.key] = bindings
    return view


def list_ports(config: dict[str, Any], endpoints: list[Endpoint]) -> list[dict[str, Any]]:
    """/containers/json's Ports."""
    rows: list[dict[str, Any]] = []
    published = {p.key for e in endpoints[:1] for p in e.ports}
    for endpoint in endpoints[:1]:
        for port in endpoint.ports:
            rows.append({"IP": port.host_ip or "0.0.0.0", "PrivatePort": port.container_port,
                         "PublicPort": port.host_port, "Type": port.proto})  # fmt: skip
    for number, proto in exposed_ports(config):
        if f"{number}/{proto}" not in published:
            rows.append({"PrivatePort": number, "Type": proto})
    return rows


def endpoint_settings(
    network_id: str,
    endpoint: Endpoint | None,
    request: EndpointRequest | None,
    asked: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """EndpointSettings of NetworkSettings.Networks: addresses while running, what was asked
    (`asked`: the EndpointsConfig entry) always."""
    asked = asked or {}
    aliases = list(request.aliases) if request is not None and request.aliases else None
    ipam = asked.get("IPAMConfig") or (
        {"IPv4Address": request.ipv4_address} if request and request.ipv4_address else None
    )
    links = asked.get("Links") or (list(request.links) if request and request.links else None)
    return {
        "IPAMConfig": ipam,
        "Links": links,
        "Aliases": aliases,
        "MacAddress": endpoint.mac if endpoint else str(asked.get("MacAddress") or ""),
        "DriverOpts": asked.get("DriverOpts") or None,
        "NetworkID": network_id,
        "EndpointID": endpoint.endpoint_id if endpoint else "",
        "Gateway": endpoint.gateway if endpoint else "",
        "IPAddress": endpoint.ip if endpoint else "",
        "IPPrefixLen": endpoint.prefix_len if endpoint else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": list(endpoint.aliases) if endpoint and endpoint.aliases else None,
    }



def parse_link(text: str) -> tuple[str, str]:
    """--link name[:alias], or dockerd's stored "/name:/parent/alias" -> (name, alias)."""
    name, _, alias = text.partition(":")
    name = name.lstrip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else name
    if not name or not alias:
        raise errors.InvalidArgument(f"invalid link: {text}")
    return name, alias


def link_env(
    alias: str, link_name: str, ip: str, exposed: list[tuple[int, str]], env: list[str]
) -> list[str]:
    """The variables a legacy link gives, as dockerd's links package writes them:
    ALIAS_PORT..., ALIAS_NAME=/parent/alias, ALIAS_ENV_<the linked container's env>."""
    prefix = alias.upper().replace("-", "_")
    found: list[str] = []
    if exposed:
        port, proto = exposed[0]
        found.append(f"{prefix}_PORT={proto}://{ip}:{port}")
    for port, proto in exposed:
        stem = f"{prefix}_PORT_{port}_{proto.upper()}"
        found += [f"{stem}={proto}://{ip}:{port}", f"{stem}_ADDR={ip}",
                  f"{stem}_PORT={port}", f"{stem}_PROTO={proto}"]  # fmt: skip
    found.append(f"{prefix}_NAME={link_name}")
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep and key not in ("HOME", "PATH"):
            found.append(f"{prefix}_ENV_{key}={value}")
    return found
