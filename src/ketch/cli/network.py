"""`ketch network ...`: docker's network commands over the Engine API's /networks."""

from __future__ import annotations

import sys
from typing import Any

from ketch import errors
from ketch.cli import netopts
from ketch.cli.app import Cli, Entry, ExitStatus, daemon_error_text
from ketch.cli.flags import BOOL, INT, LIST, STRING, Command, Flag, Parsed, UsageError
from ketch.cli.groups import group_entry
from ketch.cli.listing import parse_filters, render_rows
from ketch.cli.tables import natural_sorted, short_id

DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
RAW_FORMAT = "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n"
HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv4": "IPV4",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
PRUNE_WARNING = (
    "WARNING! This will remove all custom networks not used by at least one container.\n"
    "Are you sure you want to continue?"
)
# Subcommands in the order docker lists them, with their summaries.
SUBCOMMANDS = {
    "connect": "Connect a container to a network",
    "create": "Create a network",
    "disconnect": "Disconnect a container from a network",
    "inspect": "Display detailed information on one or more networks",
    "ls": "List networks",
    "prune": "Remove all unused networks",
    "rm": "Remove one or more networks",
}


# -- create ------------------------------------------------------------------------------------


def string_slice(values: list[str]) -> list[str]:
    """pflag's StringSlice: each value is a CSV line, so `--alias a,b` is two."""
    items: list[str] = []
    for value in values:
        if '"' in value:
            import csv

            items.extend(next(csv.reader([value]), []))
        elif value:
            items.extend(value.split(","))
    return items


def key_values(items: list[str]) -> dict[str, str]:
    """opts.MapOpts: `k=v` (a bare `k` maps to "")."""
    mapping = {}
    for item in items:
        key, _, value = item.partition("=")
        mapping[key] = value
    return mapping


def _cidr(text: str) -> Any:
    import ipaddress

    if "/" not in text:
        raise ValueError(f"invalid CIDR address: {text}")
    try:
        return ipaddress.ip_interface(text).network
    except ValueError:
        raise ValueError(f"invalid CIDR address: {text}") from None


def _subnet_matches(subnet: str, data: str) -> bool:
    """docker's subnetMatches: is `data` (an address or a CIDR's address) in `subnet`?"""
    try:
        network = _cidr(subnet)
    except ValueError as error:
        raise ExitStatus(1, f"invalid subnet: {error}") from None
    if "/" in data:
        try:
            address = _cidr(data) and netopts.parse_ip(data.partition("/")[0])
        except ValueError as error:
            raise ExitStatus(1, str(error)) from None
    else:
        address = netopts.parse_ip(data)
    return address is not None and address.version == network.version and address in network


def _join_subnet(
    pools: dict[str, dict[str, Any]],
    subnets: list[str],
    key: str,
    value: str,
    plural: str,
    preposition: str,
    singular: str,
) -> None:
    """A range or gateway into the pool of each subnet holding it, at most one a subnet."""
    matched = False
    for subnet in subnets:
        if not _subnet_matches(subnet, value):
            continue
        if pools[subnet].get(key):
            raise ExitStatus(
                1,
                f"cannot configure multiple {plural} ({value}, {pools[subnet][key]}) "
                f"{preposition} the same subnet ({subnet})",
            )
        pools[subnet][key] = value
        matched = True
    if not matched:
        raise ExitStatus(1, f"no matching subnet for {singular} {value}")


def ipam_config(
    subnets: list[str],
    ranges: list[str],
    gateways: list[str],
    aux: dict[str, str],
    driver: str,
    options: dict[str, str],
) -> dict[str, Any]:
    """docker's createIPAMConfig: each range, gateway and aux address joins its subnet."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise ExitStatus(1, "every ip-range or gateway must have a corresponding subnet")
    pools: dict[str, dict[str, Any]] = {}
    for subnet in subnets:
        for other in pools:
            if _subnet_matches(subnet, other) or _subnet_matches(other, subnet):
                raise ExitStatus(1, "multiple overlapping subnet configuration is not supported")
        pools[subnet] = {"Subnet": subnet, "AuxiliaryAddresses": {}}
    for ip_range in ranges:
        try:
            _cidr(ip_range)
        except ValueError as error:
            raise ExitStatus(1, str(error)) from None
        _join_subnet(pools, subnets, "IPRange", ip_range, "ranges", "on", "range")
    for gateway in gateways:
        _join_subnet(pools, subnets, "Gateway", gateway, "gateways", "for", "gateway")
    for key, address in aux.items():
        matched = False
        for subnet in subnets:
            if _subnet_matches(subnet, address):
                pools[subnet]["AuxiliaryAddresses"][key] = address
                matched = True
        if not matched:
            raise ExitStatus(1, f"no matching subnet for aux-address {address}")
    config = []
    for pool in pools.values():
        # network.IPAMConfig's omitempty fields
        if not pool["AuxiliaryAddresses"]:
            del pool["AuxiliaryAddresses"]
        config.append(pool)
    return {"Driver": driver, "Config": config, "Options": options}


def create_body(parsed: Parsed) -> dict[str, Any]:
    """POST /networks/create's body, as the docker CLI marshals network.CreateRequest."""
    body: dict[str, Any] = {
        "Name": parsed.args[0],
        "Driver": parsed.driver,
        "Scope": parsed.scope or "",
        "IPAM": ipam_config(
            string_slice(parsed.subnet),
            string_slice(parsed.ip_range),
            string_slice(parsed.gateway),
            key_values(parsed.aux_address),
            parsed.ipam_driver,
            key_values(parsed.ipam_opt),
        ),
        "Internal": bool(parsed.internal),
        "Attachable": bool(parsed.attachable),
        "Ingress": bool(parsed.ingress),
        "ConfigOnly": bool(parsed.config_only),
        "ConfigFrom": {"Network": parsed.config_from} if parsed.config_from else None,
        "Options": key_values(parsed.opt),
        "Labels": key_values(parsed.label),
    }
    # Sent only when given, so the daemon's default applies otherwise.
    if "ipv4" in parsed.changed:
        body["EnableIPv4"] = bool(parsed.ipv4)
    if "ipv6" in parsed.changed:
        body["EnableIPv6"] = bool(parsed.ipv6)
    return body


def create(cli: Cli, parsed: Parsed) -> int:
    body = create_body(parsed)
    response = cli.client.post("/networks/create", None, body)
    if response.get("Warning"):
        cli.err(f"WARNING: {response['Warning']}")
    cli.out(response["Id"])
    return 0


# -- ls ----------------------------------------------------------------------------------------


def go_time_text(stamp: str) -> str:
    """Go's time.Time.String() for an RFC 3339 time as the daemon sends it."""
    date, _, clock = stamp.partition("T")
    zone = "+0000 UTC"
    for sign in ("Z", "+", "-"):
        position = clock.find(sign)
        if position > 0:
            offset = clock[position:]
            clock = clock[:position]
            if offset not in ("Z", "+00:00", "-00:00"):
                numeric = offset.replace(":", "")
                zone = f"{numeric} {numeric}"
            break
    whole, _, fraction = clock.partition(".")
    fraction = fraction.rstrip("0")
    return f"{date} {whole}{'.' + fraction if fraction else ''} {zone}"


def network_row(network: dict[str, Any], truncate: bool) -> dict[str, Any]:
    """The fields docker's network formatter offers `--format`, keys in json.Marshal's order."""
    labels = network.get("Labels") or {}
    identifier = network.get("Id", "")
    return {
        "CreatedAt": go_time_text(network.get("Created") or "0001-01-01T00:00:00Z"),
        "Driver": network.get("Driver", ""),
        "ID": short_id(identifier) if truncate else identifier,
        "IPv4": "true" if network.get("EnableIPv4") else "false",
        "IPv6": "true" if network.get("EnableIPv6") else "false",
        "Internal": "true" if network.get("Internal") else "false",
        "Labels": ",".join(f"{key}={value}" for key, value in labels.items()),
        "Name": network.get("Name", ""),
        "Scope": network.get("Scope", ""),
    }


def list_networks(cli: Cli, parsed: Parsed) -> int:
    params: dict[str, Any] = {}
    if parsed.filter:
        params["filters"] = parse_filters(parsed.filter)
    networks = cli.client.get("/networks", params or None) or []
    template = parsed.format or "table"
    if template == "table":
        template = "{{.ID}}" if parsed.quiet else DEFAULT_FORMAT
    elif template == "raw":
        template = "network_id: {{.ID}}" if parsed.quiet else RAW_FORMAT
    by_name: dict[str, list[dict[str, Any]]] = {}
    for network in networks:
        by_name.setdefault(network.get("Name", ""), []).append(network)
    ordered = [n for name in natural_sorted(list(by_name)) for n in by_name[name]]
    rows = [network_row(network, not parsed.no_trunc) for network in ordered]
    cli.stdout.write(render_rows(template, rows, HEADERS))
    return 0


# -- inspect, rm, prune ------------------------------------------------------------------------


def inspect(cli: Cli, parsed: Parsed) -> int:
    from ketch.cli.inspect import inspect_each

    params = {"verbose": True} if parsed.verbose else None
    return inspect_each(cli, parsed.format, [f"/networks/{name}" for name in parsed.args], params)


def remove(cli: Cli, parsed: Parsed) -> int:
    failed = False
    for name in parsed.args:
        try:
            cli.client.request("DELETE", f"/networks/{name}").read()
        except errors.KetchError as error:
            if parsed.force and errors.status_of(error) == 404:
                continue
            cli.err(daemon_error_text(error))
            failed = True
            continue
        cli.out(name)
    if failed:
        raise ExitStatus(1, "exit status 1")
    return 0


def confirm(cli: Cli, message: str) -> bool:
    """docker's prompt.Confirm: the question on stdout, "y" (any case) on stdin says yes."""
    cli.stdout.write(f"{message} [y/N] ")
    cli.stdout.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() == "y"


def prune(cli: Cli, parsed: Parsed) -> int:
    if not parsed.force and not confirm(cli, PRUNE_WARNING):
        return 0
    params = {"filters": parse_filters(parsed.filter)} if parsed.filter else None
    report = cli.client.post("/networks/prune", params) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        cli.out("Deleted Networks:\n" + "".join(f"{name}\n" for name in deleted))
    return 0


# -- connect, disconnect -----------------------------------------------------------------------


def connect_body(parsed: Parsed) -> dict[str, Any]:
    """network.EndpointSettings as `docker network connect` fills it (IPAMConfig always set)."""
    driver_opts = {}
    for item in string_slice(parsed.driver_opt):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError("invalid key/value pair format in driver options")
        driver_opts[key.strip()] = value.strip()
    ipam = netopts.endpoint_ipam(
        parsed.ip or "", parsed.ip6 or "", string_slice(parsed.link_local_ip)
    )
    endpoint = netopts.endpoint_settings(
        links=parsed.link,
        ipam=ipam or {},
        gw_priority=parsed.gw_priority or 0,
    )
    endpoint["Aliases"] = string_slice(parsed.alias)
    endpoint["DriverOpts"] = driver_opts
    return {"Container": parsed.args[1], "EndpointConfig": endpoint}


def connect(cli: Cli, parsed: Parsed) -> int:
    body = connect_body(parsed)
    cli.client.request("POST", f"/networks/{parsed.args[0]}/connect", body=body).read()
    return 0


def disconnect(cli: Cli, parsed: Parsed) -> int:
    body = {"Container": parsed.args[1], "Force": bool(parsed.force)}
    cli.client.request("POST", f"/networks/{parsed.args[0]}/disconnect", body=body).read()
    return 0


# -- the group ---------------------------------------------------------------------------------


_FORMAT_HELP = "Format output using a custom template"

ENTRIES = {
    "network": group_entry("network", "Manage networks", SUBCOMMANDS),
    "network create": Entry(
        Command(
            "network create",
            "network create [OPTIONS] NETWORK",
            "Create a network",
            [
                Flag(
                    "attachable",
                    "attachable",
                    None,
                    BOOL,
                    help="Enable manual container attachment",
                ),
                Flag(
                    "aux_address",
                    "aux-address",
                    None,
                    LIST,
                    help="Auxiliary IPv4 or IPv6 addresses used by Network driver",
                    metavar="map",
                ),
                Flag(
                    "config_from",
                    "config-from",
                    None,
                    STRING,
                    help="The network from which to copy the configuration",
                ),
                Flag(
                    "config_only",
                    "config-only",
                    None,
                    BOOL,
                    help="Create a configuration only network",
                ),
                Flag(
                    "driver", "driver", "d", STRING, "bridge", help="Driver to manage the Network"
                ),
                Flag(
                    "gateway",
                    "gateway",
                    None,
                    LIST,
                    help="IPv4 or IPv6 Gateway for the master subnet",
                    metavar="strings",
                ),
                Flag("ingress", "ingress", None, BOOL, help="Create swarm routing-mesh network"),
                Flag(
                    "internal",
                    "internal",
                    None,
                    BOOL,
                    help="Restrict external access to the network",
                ),
                Flag(
                    "ip_range",
                    "ip-range",
                    None,
                    LIST,
                    help="Allocate container ip from a sub-range",
                    metavar="strings",
                ),
                Flag(
                    "ipam_driver",
                    "ipam-driver",
                    None,
                    STRING,
                    "default",
                    help="IP Address Management Driver",
                ),
                Flag(
                    "ipam_opt",
                    "ipam-opt",
                    None,
                    LIST,
                    help="Set IPAM driver specific options",
                    metavar="map",
                ),
                Flag(
                    "ipv4",
                    "ipv4",
                    None,
                    BOOL,
                    True,
                    help="Enable or disable IPv4 address assignment",
                ),
                Flag("ipv6", "ipv6", None, BOOL, help="Enable or disable IPv6 address assignment"),
                Flag(
                    "label",
                    "label",
                    None,
                    LIST,
                    help="Set metadata on a network",
                    check=netopts.check_label,
                ),
                Flag("opt", "opt", "o", LIST, help="Set driver specific options", metavar="map"),
                Flag("scope", "scope", None, STRING, help="Control the network's scope"),
                Flag(
                    "subnet",
                    "subnet",
                    None,
                    LIST,
                    help="Subnet in CIDR format that represents a network segment",
                    metavar="strings",
                ),
            ],
            min_args=1,
            max_args=1,
        ),
        create,
    ),
    "network ls": Entry(
        Command(
            "network ls",
            "network ls [OPTIONS]",
            "List networks",
            [
                Flag(
                    "filter",
                    "filter",
                    "f",
                    LIST,
                    help='Provide filter values (e.g. "driver=bridge")',
                    metavar="filter",
                ),
                Flag("format", "format", None, STRING, help=_FORMAT_HELP),
                Flag("no_trunc", "no-trunc", None, BOOL, help="Do not truncate the output"),
                Flag("quiet", "quiet", "q", BOOL, help="Only display network IDs"),
            ],
            max_args=0,
        ),
        list_networks,
    ),
    "network inspect": Entry(
        Command(
            "network inspect",
            "network inspect [OPTIONS] NETWORK [NETWORK...]",
            "Display detailed information on one or more networks",
            [
                Flag("format", "format", "f", STRING, help="Format output using a custom template"),
                Flag("verbose", "verbose", "v", BOOL, help="Verbose output for diagnostics"),
            ],
            min_args=1,
        ),
        inspect,
    ),
    "network rm": Entry(
        Command(
            "network rm",
            "network rm NETWORK [NETWORK...]",
            "Remove one or more networks",
            [Flag("force", "force", "f", BOOL, help="Do not error if the network does not exist")],
            min_args=1,
        ),
        remove,
    ),
    "network prune": Entry(
        Command(
            "network prune",
            "network prune [OPTIONS]",
            "Remove all unused networks",
            [
                Flag(
                    "filter",
                    "filter",
                    None,
                    LIST,
                    help='Provide filter values (e.g. "until=<timestamp>")',
                    metavar="filter",
                ),
                Flag("force", "force", "f", BOOL, help="Do not prompt for confirmation"),
            ],
            max_args=0,
        ),
        prune,
    ),
    "network connect": Entry(
        Command(
            "network connect",
            "network connect [OPTIONS] NETWORK CONTAINER",
            "Connect a container to a network",
            [
                Flag(
                    "alias",
                    "alias",
                    None,
                    LIST,
                    help="Add network-scoped alias for the container",
                    metavar="strings",
                ),
                Flag(
                    "driver_opt",
                    "driver-opt",
                    None,
                    LIST,
                    help="driver options for the network",
                    metavar="strings",
                ),
                Flag(
                    "gw_priority",
                    "gw-priority",
                    None,
                    INT,
                    help=(
                        "Highest gw-priority provides the default gateway. "
                        "Accepts positive and negative values."
                    ),
                ),
                Flag("ip", "ip", None, STRING, help='IPv4 address (e.g., "172.30.100.104")'),
                Flag("ip6", "ip6", None, STRING, help='IPv6 address (e.g., "2001:db8::33")'),
                Flag(
                    "link",
                    "link",
                    None,
                    LIST,
                    help="Add link to another container",
                    check=netopts.check_link,
                ),
                Flag(
                    "link_local_ip",
                    "link-local-ip",
                    None,
                    LIST,
                    help="Add a link-local address for the container",
                    metavar="strings",
                ),
            ],
            min_args=2,
            max_args=2,
        ),
        connect,
    ),
    "network disconnect": Entry(
        Command(
            "network disconnect",
            "network disconnect [OPTIONS] NETWORK CONTAINER",
            "Disconnect a container from a network",
            [
                Flag(
                    "force",
                    "force",
                    "f",
                    BOOL,
                    help="Force the container to disconnect from a network",
                )
            ],
            min_args=2,
            max_args=2,
        ),
        disconnect,
    ),
}
