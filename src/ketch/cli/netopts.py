"""Network options of `run`/`create` (and `network`), parsed as the docker CLI parses them.

The rules and messages follow docker/cli's opts package and go-connections' nat
(ParsePortSpec, ParsePortRange), so a command line docker accepts sends the
same ExposedPorts, PortBindings and EndpointsConfig, and one it refuses is
refused with the same words. Pure functions; loaded only by the commands that
take these options.
"""

from __future__ import annotations

from ketch.cli.flags import UsageError
from ketch.gostrings import quote as go_quote

# typing and re are kept off `run`'s import path (several ms per command): the annotations
# are strings, so the name is needed by checkers only, and re is imported where a pattern
# is matched.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PROTOCOLS = ("tcp", "udp", "sctp")
HOST_GATEWAY = "host-gateway"
# Network modes that are not networks of their own (api/types/container NetworkMode).
NOT_USER_DEFINED = ("default", "bridge", "host", "none")

# Patterns as text: re compiles (and caches) one when first used, so a `run` that needs
# none of them does not pay for compiling them at import.
_ALPHA = r"[a-zA-Z]"
# docker's domainRegexp, `(:?` and all, so the same names pass.
_DOMAIN = (
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)
_LONG_NETWORK_SYNTAX = r"(?a)\w+=\w+(,\w+=\w+)*"
_HEX_PAIR = r"[0-9a-fA-F]{2}"
_HEX_QUAD = r"[0-9a-fA-F]{4}"


# -- numbers and addresses, with Go's rules ----------------------------------------------------


def parse_uint16(text: str) -> int:
    """strconv.ParseUint(text, 10, 16), with its error text."""
    if not text or not all("0" <= char <= "9" for char in text):
        raise ValueError(f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if value > 65535:
        raise ValueError(f"strconv.ParseUint: parsing {go_quote(text)}: value out of range")
    return value


def parse_port_range(text: str) -> tuple[int, int]:
    """nat.ParsePortRange: "80" or "8000-9000"."""
    if text == "":
        raise ValueError("empty string specified for ports")
    if "-" not in text:
        port = parse_uint16(text)
        return port, port
    parts = text.split("-")
    start, end = parse_uint16(parts[0]), parse_uint16(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def parse_ip(text: str) -> Any:
    """net.ParseIP: an ipaddress object, or None where Go's parser says no."""
    import ipaddress

    if "%" in text or "/" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def canonical_ip(text: str) -> str:
    """opts.ValidateIPAddress: the address as Go's IP.String() writes it."""
    address = parse_ip(text.strip())
    if address is None:
        raise ValueError(f"IP address is not correctly formatted: {text}")
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped if mapped is not None else address)


def localhost_dns_warning(servers: list[str]) -> str:
    """The docker CLI's own warning for a loopback --dns, which the container cannot reach."""
    for server in servers:
        address = parse_ip(server)
        if address is not None and address.is_loopback:
            return f"Localhost DNS ({address}) may fail in containers."
    return ""


def is_mac_address(text: str) -> bool:
    """net.ParseMAC: 6, 8 or 20 bytes as xx:xx.., xx-xx.. or xxxx.xxxx.. ."""
    if len(text) < 14:
        return False
    import re

    if text[2] in ":-":
        groups = text.split(text[2])
        return len(groups) in (6, 8, 20) and all(re.fullmatch(_HEX_PAIR, g) for g in groups)
    if text[4] == ".":
        groups = text.split(".")
        return len(groups) * 2 in (6, 8, 20) and all(re.fullmatch(_HEX_QUAD, g) for g in groups)
    return False


# -- flag validators (run when the flag is parsed, as pflag's Set does) ------------------------


def check_dns(value: str) -> str:
    return canonical_ip(value)


def check_dns_search(value: str) -> str:
    """opts.ValidateDNSSearch."""
    value = value.strip(" ")
    if value == ".":
        return value
    import re

    found = re.search(_DOMAIN, value) if re.search(_ALPHA, value) else None
    if found is None or len(found.group(1)) >= 255:
        raise ValueError(f"{value} is not a valid domain")
    return found.group(1)


def check_extra_host(value: str) -> str:
    """opts.ValidateExtraHost: `name:ip`, `name=ip`, `[v6]` in brackets, or host-gateway;
    sent as `name:ip`, the form the daemon reads."""
    name, sep, address = value.partition("=")
    if not sep:
        name, sep, address = value.partition(":")
    if not sep or not name or ":" in name:
        raise ValueError(f"bad format for add-host: {go_quote(value)}")
    if address != HOST_GATEWAY:
        if len(address) > 2 and address[0] == "[" and address[-1] == "]":
            address = address[1:-1]
        if parse_ip(address.strip()) is None:
            raise ValueError(f"invalid IP address in add-host: {go_quote(address)}")
    return f"{name}:{address}"


def check_link(value: str) -> str:
    """opts.ValidateLink: `name` or `name:alias`."""
    if value == "":
        raise ValueError("empty string specified for links")
    if len(value.split(":", 2)) > 2:
        raise ValueError(f"bad format for links: {value}")
    return value


def check_label(value: str) -> str:
    """opts.ValidateLabel."""
    key = value.partition("=")[0].lstrip(" \t")
    if key == "":
        raise ValueError(f"invalid label '{value}': empty name")
    if " " in key or "\t" in key:
        raise ValueError(f"label '{key}' contains whitespaces")
    return value


def check_network(value: str) -> str:
    """opts.NetworkOpt.Set: checked now for its errors; read again by `network_attachment`."""
    network_attachment(value)
    return value


# -- ports -------------------------------------------------------------------------------------


def _standard_notation(spec: str) -> str:
    """The long `-p published=8080,target=80,protocol=udp` form, as the short one."""
    if "=" not in spec:
        return spec
    params = {"protocol": "tcp"}
    for param in spec.split(","):
        key, sep, value = param.partition("=")
        if not sep or not key:
            raise UsageError(
                f"invalid publish opts format (should be name=value but got '{param}')"
            )
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def split_proto_port(raw: str) -> tuple[str, str]:
    """nat.SplitProtoPort: ("tcp", "80") from "80", ("udp", "53") from "53/udp"."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_port_spec(raw: str) -> list[tuple[str, dict[str, str]]]:
    """nat.ParsePortSpec: `[ip:][hostPort:]containerPort[/proto]` -> [(port key, binding)]."""
    ip, host_port, container_port = _split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise UsageError(f"invalid IP address {ip}: address {ip}:: missing ']' in address")
        ip = ip[1:-1]
    if ip and parse_ip(ip) is None:
        raise UsageError(f"invalid IP address: {ip}")
    if container_port == "":
        raise UsageError(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except ValueError:
        raise UsageError(f"invalid containerPort: {container_port}") from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except ValueError:
            raise UsageError(f"invalid hostPort: {host_port}") from None
    if host_port and end - start != host_end - host_start and end != start:
        raise UsageError(
            "invalid ranges specified for container and host Ports: "
            f"{container_port} and {host_port}"
        )
    if proto.lower() not in PROTOCOLS:
        raise UsageError(f"invalid proto: {proto}")
    mappings = []
    for offset in range(end - start + 1):
        published = str(host_start + offset) if host_port else ""
        # One container port and a host range: the daemon picks a free port within it.
        if start == end and host_start != host_end:
            published = f"{published}-{host_end}"
        key = f"{start + offset}/{proto.lower()}"
        mappings.append((key, {"HostIp": ip, "HostPort": published}))
    return mappings


def parse_ports(
    specs: list[str],
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """`-p` values -> (Config.ExposedPorts, HostConfig.PortBindings), as nat.ParsePortSpecs."""
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        for key, binding in parse_port_spec(_standard_notation(spec)):
            exposed[key] = {}
            bindings.setdefault(key, []).append(binding)
    return exposed, bindings


def add_exposed(exposed: dict[str, dict[str, Any]], items: list[str]) -> None:
    """`--expose 80`, `--expose 7000-7002/udp` into ExposedPorts."""
    for item in items:
        if ":" in item:
            raise UsageError(f"invalid port format for --expose: {item}")
        proto, port = split_proto_port(item)
        try:
            start, end = parse_port_range(port)
        except ValueError as error:
            raise UsageError(f"invalid range format for --expose: {item}, error: {error}") from None
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto}", {})


# -- networks and endpoints --------------------------------------------------------------------


def is_user_defined(mode: str) -> bool:
    return mode not in NOT_USER_DEFINED and not mode.startswith("container:")


def network_attachment(value: str) -> dict[str, Any]:
    """One `--network` value: a name, or docker's `name=x,alias=y,ip=..` form."""
    attachment: dict[str, Any] = {"Target": value, "Aliases": [], "LinkLocalIPs": []}
    if "=" not in value:  # a plain name (what every `run` has): no pattern needed
        return attachment
    import re

    if not re.search(_LONG_NETWORK_SYNTAX, value):
        return attachment
    import csv

    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as error:
        raise ValueError(str(error)) from None
    attachment["Target"] = ""
    for field in fields:
        key, sep, val = field.lower().partition("=")
        if not sep or not key:
            raise ValueError(f"invalid field {field}")
        key, val = key.strip(), val.strip()
        if key == "name":
            attachment["Target"] = val
        elif key == "alias":
            attachment["Aliases"].append(val)
        elif key == "ip":
            attachment["IPv4Address"] = val
        elif key == "ip6":
            attachment["IPv6Address"] = val
        elif key == "mac-address":
            attachment["MacAddress"] = val
        elif key == "link-local-ip":
            attachment["LinkLocalIPs"].append(val)
        elif key == "driver-opt":
            opt_key, opt_sep, opt_value = val.partition("=")
            if not opt_sep or not opt_key:
                raise ValueError("invalid key value pair format in driver options")
            attachment.setdefault("DriverOpts", {})[opt_key.strip()] = opt_value.strip()
        elif key == "gw-priority":
            try:
                attachment["GwPriority"] = int(val)
            except ValueError:
                raise ValueError(f"invalid gw-priority ({val}): invalid syntax") from None
        else:
            raise ValueError(f"invalid field key {key}")
    if not attachment["Target"]:
        raise ValueError("network name/id is not specified")
    return attachment


def endpoint_settings(
    *,
    aliases: list[str] | None = None,
    links: list[str] | None = None,
    ipam: dict[str, Any] | None = None,
    mac: str = "",
    driver_opts: dict[str, str] | None = None,
    gw_priority: int = 0,
) -> dict[str, Any]:
    """network.EndpointSettings as the docker CLI marshals it: every field, zero or not."""
    return {
        "IPAMConfig": ipam,
        "Links": links or None,
        "Aliases": aliases or None,
        "DriverOpts": driver_opts or None,
        "GwPriority": gw_priority,
        "MacAddress": mac,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def endpoint_ipam(ipv4: str, ipv6: str, link_local: list[str]) -> dict[str, Any] | None:
    """EndpointIPAMConfig with Go's omitempty, or None when nothing is asked."""
    if not (ipv4 or ipv6 or link_local):
        return None
    ipam: dict[str, Any] = {}
    if ipv4:
        ipam["IPv4Address"] = ipv4
    if ipv6:
        ipam["IPv6Address"] = ipv6
    if link_local:
        ipam["LinkLocalIPs"] = link_local
    return ipam


class EndpointFlags:
    """The old single-network flags, applied to the first `--network` (or "default")."""

    def __init__(
        self,
        aliases: list[str],
        links: list[str],
        ipv4: str,
        ipv6: str,
        mac: str,
        link_local: list[str],
    ) -> None:
        self.aliases = aliases
        self.links = links
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.mac = mac
        self.link_local = link_local


def _apply_flags(attachment: dict[str, Any], flags: EndpointFlags) -> None:
    conflicts = [
        (attachment["Aliases"] and flags.aliases, "--network-alias", "per-network alias"),
        (attachment.get("Links") and flags.links, "--link", "per-network links"),
        (attachment.get("IPv4Address") and flags.ipv4, "--ip", "per-network IPv4 address"),
        (attachment.get("IPv6Address") and flags.ipv6, "--ip6", "per-network IPv6 address"),
        (attachment.get("MacAddress") and flags.mac, "--mac-address", "per-network MAC address"),
        (
            attachment["LinkLocalIPs"] and flags.link_local,
            "--link-local-ip",
            "per-network link-local IP addresses",
        ),
    ]
    for clash, flag, other in conflicts:
        if clash:
            raise UsageError(f"conflicting options: cannot specify both {flag} and {other}")
    if flags.aliases:
        attachment["Aliases"] = list(flags.aliases)
    # On a user-defined network a link is an alias of the endpoint; on the default
    # bridge it is a legacy link, carried by HostConfig.Links only.
    if is_user_defined(attachment["Target"]) and flags.links:
        attachment["Links"] = list(flags.links)
    if flags.ipv4:
        attachment["IPv4Address"] = flags.ipv4
    if flags.ipv6:
        attachment["IPv6Address"] = flags.ipv6
    if flags.mac:
        attachment["MacAddress"] = flags.mac
    if flags.link_local:
        attachment["LinkLocalIPs"] = list(flags.link_local)


def _endpoint(attachment: dict[str, Any]) -> dict[str, Any]:
    target = attachment["Target"]
    if not target.strip():
        raise UsageError("no name set for network")
    if not is_user_defined(target):
        if attachment["Aliases"]:
            raise UsageError("network-scoped aliases are only supported for user-defined networks")
        if attachment.get("Links"):
            raise UsageError("links are only supported for user-defined networks")
    mac = attachment.get("MacAddress", "")
    if mac and not is_mac_address(mac.strip()):
        raise UsageError(f"{mac} is not a valid mac address")
    return endpoint_settings(
        aliases=attachment["Aliases"],
        links=attachment.get("Links"),
        ipam=endpoint_ipam(
            attachment.get("IPv4Address", ""),
            attachment.get("IPv6Address", ""),
            attachment["LinkLocalIPs"],
        ),
        mac=mac,
        driver_opts=attachment.get("DriverOpts"),
        gw_priority=attachment.get("GwPriority", 0),
    )


def _is_empty(endpoint: dict[str, Any]) -> bool:
    return endpoint == endpoint_settings()


def endpoints_config(networks: list[str], flags: EndpointFlags) -> dict[str, Any]:
    """NetworkingConfig.EndpointsConfig for the `--network` values and the endpoint flags."""
    endpoints: dict[str, Any] = {}
    if not networks:
        attachment = network_attachment("default")
        _apply_flags(attachment, flags)
        endpoints["default"] = _endpoint(attachment)
        return endpoints
    attachments = [network_attachment(value) for value in networks]
    for index, attachment in enumerate(attachments):
        if index == 0:
            _apply_flags(attachment, flags)
        endpoint = _endpoint(attachment)
        if attachment["Target"] in endpoints:
            raise UsageError(f'network "{attachment["Target"]}" is specified multiple times')
        # One network and nothing asked of it: the daemon makes the endpoint itself.
        if index == 0 and len(attachments) == 1 and _is_empty(endpoint):
            continue
        endpoints[attachment["Target"]] = endpoint
    kinds = {is_user_defined(attachment["Target"]) for attachment in attachments}
    if kinds == {True, False}:
        raise UsageError(
            "conflicting options: cannot attach both user-defined and non-user-defined "
            "network-modes"
        )
    return endpoints


def network_mode(networks: list[str]) -> str:
    return network_attachment(networks[0])["Target"] if networks else "default"
