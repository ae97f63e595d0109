"""`ketch port`: a container's published ports, from NetworkSettings.Ports of its inspect."""

from __future__ import annotations

from typing import Any

from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import Command, Parsed
from ketch.cli.tables import join_host_port, natural_sorted
from ketch.gostrings import quote as go_quote


def port_lines(ports: dict[str, Any] | None, container: str, wanted: str | None) -> list[str]:
    """docker's lines: "80/tcp -> 0.0.0.0:8080" for each binding, or, for one private port,
    its host addresses alone; in natural order."""
    ports = ports or {}
    lines: list[str] = []
    if wanted:
        number, _, proto = wanted.partition("/")
        if not number or not all("0" <= c <= "9" for c in number) or int(number) > 65535:
            reason = "value out of range" if number.isdigit() else "invalid syntax"
            raise ExitStatus(
                1,
                f"Error: invalid port ({number}): strconv.ParseUint: parsing "
                f"{go_quote(number)}: {reason}",
            )
        frontends = ports.get(f"{number}/{proto or 'tcp'}")
        if not frontends:
            raise ExitStatus(1, f"Error: No public port '{wanted}' published for {container}")
        lines = [join_host_port(f.get("HostIp", ""), f.get("HostPort", "")) for f in frontends]
    else:
        for private, frontends in ports.items():
            for frontend in frontends or []:
                address = join_host_port(frontend.get("HostIp", ""), frontend.get("HostPort", ""))
                lines.append(f"{private} -> {address}")
    return natural_sorted(lines)


def port(cli: Cli, parsed: Parsed) -> int:
    container, *rest = parsed.args
    inspected = cli.client.get(f"/containers/{container}/json")
    settings = inspected.get("NetworkSettings") or {}
    lines = port_lines(settings.get("Ports"), container, rest[0] if rest else None)
    if lines:
        cli.out("\n".join(lines))
    return 0


ENTRIES = {
    "port": Entry(
        Command(
            "port",
            "port CONTAINER [PRIVATE_PORT[/PROTO]]",
            "List port mappings or a specific mapping for the container",
            min_args=1,
            max_args=2,
        ),
        port,
    )
}
