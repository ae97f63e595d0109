"""The /etc files Docker writes for a container: hostname, hosts, resolv.conf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ketch.containers.record import Container


def write_etc_files(container: Container) -> None:
    """hostname, hosts and resolv.conf in the container's directory, bound in at start."""
    hostname = container.config["Hostname"]
    (container.directory / "hostname").write_text(hostname + "\n")
    extra = "".join(
        f"{entry.split(':', 1)[1]}\t{entry.split(':', 1)[0]}\n"
        for entry in container.host_config.get("ExtraHosts") or []
        if ":" in entry
    )
    (container.directory / "hosts").write_text(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
        f"ff02::2\tip6-allrouters\n{extra}"
    )
    (container.directory / "resolv.conf").write_text(resolv_conf(container.host_config))


def resolv_conf(host_config: dict[str, Any]) -> str:
    """The host's resolv.conf minus loopback resolvers, or the given --dns servers."""
    servers = list(host_config.get("Dns") or [])
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
