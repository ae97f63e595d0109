"""Networks and endpoints as the network part keeps them (pure data).

A `Network` is what `docker network create` makes (or the default bridge, or
the built-in `host` and `none`); an `Endpoint` is one container's attachment
to one network: its veth, addresses and names. Published ports belong to the
container's endpoint on the network that carries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BRIDGE, HOST, NULL = "bridge", "host", "null"


@dataclass
class Network:
    id: str  # 64 hex, as Docker's
    name: str
    driver: str  # "bridge", "host" or "null"
    created: str  # RFC 3339
    subnet: str = ""  # CIDR, e.g. "10.89.0.0/24"; "" for host and null
    gateway: str = ""  # the bridge's own address in the subnet
    bridge: str = ""  # the host link's name, e.g. "ketch0", "kt-<id[:12]>"
    internal: bool = False  # no route out: no NAT, no published ports from outside
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ip_range: str = ""  # IPAM's --ip-range, if narrower than the subnet
    mtu: int = 0  # 0: the host's default route's MTU
    aux_addresses: dict[str, str] = field(default_factory=dict)  # IPAM's, kept from IPAM
    ipam_options: dict[str, str] = field(default_factory=dict)  # IPAM.Options, kept as given

    @property
    def is_default_bridge(self) -> bool:
        return self.name == "bridge"


@dataclass(frozen=True)
class PortBinding:
    """One published port: `-p host_ip:host_port:container_port/proto`."""

    container_port: int
    proto: str = "tcp"  # "tcp" or "udp"
    host_ip: str = ""  # "" is every address (0.0.0.0)
    host_port: int = 0  # 0: a free port chosen at start

    @property
    def key(self) -> str:
        """Docker's name of the container's side: "80/tcp"."""
        return f"{self.container_port}/{self.proto}"


@dataclass(frozen=True)
class EndpointRequest:
    """What a container asks of one network when it starts."""

    network: str  # name or id
    aliases: tuple[str, ...] = ()  # DNS names on this network, besides the container's name
    ipv4_address: str = ""  # --ip; only on user-defined networks
    mac_address: str = ""  # --mac-address; "" is Docker's 02:42:<ip> scheme
    links: tuple[str, ...] = ()  # "name:alias", legacy links (default bridge)
    dns: tuple[str, ...] = ()  # --dns: where a user network's DNS forwards this one's queries


@dataclass
class Endpoint:
    network_id: str
    network_name: str
    container_id: str
    endpoint_id: str  # 64 hex
    ip: str
    prefix_len: int
    gateway: str
    mac: str
    host_ifname: str  # the host side of the veth, on the network's bridge
    aliases: list[str] = field(default_factory=list)  # names this endpoint answers to
    ports: list[PortBinding] = field(default_factory=list)  # as realised (host ports chosen)
    dns: list[str] = field(default_factory=list)  # the container's own resolvers, if any
    links: list[str] = field(default_factory=list)  # "name:alias": names for it alone

    def to_dict(self) -> dict[str, Any]:
        return {
            "NetworkID": self.network_id,
            "NetworkName": self.network_name,
            "ContainerID": self.container_id,
            "EndpointID": self.endpoint_id,
            "IP": self.ip,
            "PrefixLen": self.prefix_len,
            "Gateway": self.gateway,
            "MAC": self.mac,
            "HostIfname": self.host_ifname,
            "Aliases": list(self.aliases),
            "Ports": [
                {"ContainerPort": p.container_port, "Proto": p.proto, "HostIP": p.host_ip,
                 "HostPort": p.host_port}
                for p in self.ports
            ],
            "Dns": list(self.dns),
            "Links": list(self.links),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Endpoint:
        return cls(
            network_id=data["NetworkID"],
            network_name=data["NetworkName"],
            container_id=data["ContainerID"],
            endpoint_id=data["EndpointID"],
            ip=data["IP"],
            prefix_len=int(data["PrefixLen"]),
            gateway=data["Gateway"],
            mac=data["MAC"],
            host_ifname=data["HostIfname"],
            aliases=list(data.get("Aliases") or []),
            ports=[
                PortBinding(int(p["ContainerPort"]), p["Proto"], p["HostIP"], int(p["HostPort"]))
                for p in data.get("Ports") or []
            ],
            dns=list(data.get("Dns") or []),
            links=list(data.get("Links") or []),
        )
