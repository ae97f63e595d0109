"""The /etc files Docker writes for a container: hostname, hosts, resolv.conf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ketch.containers.record import Container


def write_etc_files(container: Container, nameservers: list[str] | None = None) -> None:
    """hostname, hosts and resolv.conf in the container's directory, bound in at start.
    `nameservers`: a user network's DNS (its gateway) in place of the host's resolvers."""
    hostname = container.config["Hostname"]
    (container.directory / "hostname").write_text(hostname + "\n")
    write_hosts(container)
    (container.directory / "resolv.conf").write_text(
        resolv_conf(container.host_config, nameservers)
    )


def hosts_text(
    hostname: str,
    extra_hosts: list[str],
    own_ip: str = "",
    host_gateway: str = "",
    links: list[str] | None = None,
) -> str:
    """/etc/hosts as dockerd writes it: localhost, --add-host entries (host-gateway: the
    default bridge's gateway), then the container's own address and name."""
    extra = ""
    for entry in extra_hosts:
        name, sep, address = entry.partition(":")
        if not sep:
            continue
        if address == "host-gateway":
            if not host_gateway:
                continue
            address = host_gateway
        extra += f"{address}\t{name}\n"
    extra += "".join(links or [])
    own = f"{own_ip}\t{hostname}\n" if own_ip else ""
    return (
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
        f"ff02::2\tip6-allrouters\n{extra}{own}"
    )


def write_hosts(
    container: Container, own_ip: str = "", host_gateway: str = "", links: list[str] | None = None
) -> None:
    """Written in place, not renamed over: a running container has the file bound in."""
    text = hosts_text(
        container.config["Hostname"], list(container.host_config.get("ExtraHosts") or []),
        own_ip, host_gateway, links,
    )  # fmt: skip
    with open(container.directory / "hosts", "w") as out:
        out.write(text)


def resolv_conf(host_config: dict[str, Any], nameservers: list[str] | None = None) -> str:
    """The host's resolv.conf minus loopback resolvers, or the given --dns servers, or a
    user network's embedded DNS (which forwards to those)."""
    servers = list(nameservers or host_config.get("Dns") or [])
    search = list(host_config.get("DnsSearch") or [])
    options = list(host_config.get("DnsOptions") or [])
    if not servers:
        try:
            host = Path("/etc/resolv.conf").read_text()
        except OSError:
            host = ""
        for line in host.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver" and not words[1].startswith("127."):
                servers.append(words[1])
            elif words[:1] == ["search"] and not search:
                search = words[1:]
            elif words[:1] == ["options"] and not options:
                options = words[1:]
    if not servers:
        servers = ["8.8.8.8", "8.8.4.4"]  # Docker's fallback when the host's only resolver is local
    text = "".join(f"nameserver {s}\n" for s in servers)
    if search:
        text += f"search {' '.join(search)}\n"
    if options:
        text += f"options {' '.join(options)}\n"
    return text
