"""IPv4 address management: which subnet a new network gets, which address an endpoint gets.

Subnets come from address pools as dockerd's `default-address-pools` describes
them (a base cut into subnets of one size), skipping what is in use: other
networks' subnets, the host's routes, and Docker's own 172.17.0.0/16 so ketch
and dockerd can run side by side. Addresses are handed out round-robin from a
cursor kept on disk with each network's allocations: an address is never given
to two endpoints at once, across restarts too, and one just released is the
last to be reused (a peer that cached its ARP entry or a connection to it does
not meet a stranger there at once).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from ketch import atomicfile
from ketch.errors import InvalidArgument, Unavailable

DOCKER_DEFAULT_BRIDGE = IPv4Network("172.17.0.0/16")


@dataclass(frozen=True)
class AddressPool:
    """dockerd's `{"base": "10.89.0.0/16", "size": 24}`."""

    base: IPv4Network
    size: int

    @classmethod
    def parse(cls, base: str, size: int) -> AddressPool:
        try:
            network = IPv4Network(base, strict=True)
        except ValueError as e:
            raise InvalidArgument(f"invalid address pool base {base!r}: {e}") from None
        if not network.prefixlen <= size <= 30:
            raise InvalidArgument(f"invalid address pool size {size} for {base}")
        return cls(network, size)


DEFAULT_POOLS = (AddressPool(IPv4Network("10.89.0.0/16"), 24),)


def choose_subnet(pools: Sequence[AddressPool], in_use: Iterable[IPv4Network]) -> IPv4Network:
    """The first subnet of the pools that overlaps nothing in `in_use` nor Docker's bridge."""
    taken = [*in_use, DOCKER_DEFAULT_BRIDGE]
    for pool in pools:
        for candidate in pool.base.subnets(new_prefix=pool.size):
            if not any(candidate.overlaps(other) for other in taken):
                return candidate
    raise Unavailable(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network"
    )


def parse_bip(bip: str) -> tuple[IPv4Network, IPv4Address]:
    """dockerd's `bip` ("10.1.0.1/24"): the bridge's address and so its subnet."""
    try:
        interface = IPv4Interface(bip)
    except ValueError as e:
        raise InvalidArgument(f"invalid bip {bip!r}: {e}") from None
    if interface.ip == interface.network.network_address:
        raise InvalidArgument(f"invalid bip {bip!r}: the address is the subnet's own")
    return interface.network, interface.ip


def default_gateway(subnet: IPv4Network) -> IPv4Address:
    """The first host address, as Docker picks it."""
    if subnet.prefixlen > 30:
        raise InvalidArgument(f"subnet {subnet} is too small for a bridge network")
    return subnet.network_address + 1


def parse_route_table(text: str) -> list[tuple[str, IPv4Network]]:
    """/proc/net/route's lines as (interface, destination); the default route left out."""
    routes: list[tuple[str, IPv4Network]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        destination, mask = int(fields[1], 16), int(fields[7], 16)
        if mask == 0:
            continue  # the default route overlaps everything by definition
        # The kernel prints the addresses in host byte order: little-endian here.
        dest = IPv4Address(destination.to_bytes(4, "little"))
        netmask = IPv4Address(mask.to_bytes(4, "little"))
        routes.append((fields[0], IPv4Network(f"{dest}/{netmask}", strict=False)))
    return routes


def host_routes(ignore_interfaces: Iterable[str] = ()) -> list[IPv4Network]:
    """The host's IPv4 routes but the default one and those via `ignore_interfaces`."""
    ignored = set(ignore_interfaces)
    text = Path("/proc/net/route").read_text()
    return [net for ifname, net in parse_route_table(text) if ifname not in ignored]


def next_free(
    subnet: IPv4Network,
    taken: Iterable[IPv4Address],
    cursor: IPv4Address | None,
    ip_range: IPv4Network | None = None,
) -> IPv4Address:
    """The first host address after `cursor` (wrapping) in `ip_range` or else the subnet
    that is not `taken`; the subnet's network and broadcast addresses never."""
    scope = ip_range or subnet
    first, last = int(scope.network_address), int(scope.broadcast_address)
    low = max(first, int(subnet.network_address) + 1)
    high = min(last, int(subnet.broadcast_address) - 1)
    if low > high:
        raise Unavailable(f"no available IPv4 addresses on this network's address pools: {subnet}")
    used = {int(a) for a in taken}
    start = int(cursor) + 1 if cursor is not None else low
    if not low <= start <= high:
        start = low
    count = high - low + 1
    for step in range(count):
        candidate = low + (start - low + step) % count
        if candidate not in used:
            return IPv4Address(candidate)
    raise Unavailable(f"no available IPv4 addresses on this network's address pools: {subnet}")


class Ipam:
    """The allocations of every network, one file each under `root`: {address: owner}."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, network_id: str) -> Path:
        return self.root / f"{network_id}.json"

    def _load(self, network_id: str) -> dict[str, object]:
        try:
            data = json.loads(self._path(network_id).read_text())
        except FileNotFoundError:
            return {"Allocated": {}, "Cursor": ""}
        if not isinstance(data, dict):
            raise ValueError(f"{self._path(network_id)}: not an object")
        return data

    def allocations(self, network_id: str) -> dict[str, str]:
        """address -> owner (a container id, or "gateway")."""
        with self._lock:
            allocated = self._load(network_id).get("Allocated")
        return dict(allocated) if isinstance(allocated, dict) else {}

    def reserve(self, network_id: str, address: IPv4Address, owner: str) -> None:
        """Mark `address` taken (the gateway, or a --ip); Conflict-free: InvalidArgument."""
        with self._lock:
            state = self._load(network_id)
            allocated = _allocated(state)
            holder = allocated.get(str(address))
            if holder is not None and holder != owner:
                raise InvalidArgument(f"Address already in use: {address}")
            allocated[str(address)] = owner
            atomicfile.write_json(self._path(network_id), state, durable=False)

    def allocate(
        self,
        network_id: str,
        subnet: IPv4Network,
        owner: str,
        ip_range: IPv4Network | None = None,
    ) -> IPv4Address:
        with self._lock:
            state = self._load(network_id)
            allocated = _allocated(state)
            text = state.get("Cursor")
            cursor = IPv4Address(text) if isinstance(text, str) and text else None
            taken = (IPv4Address(a) for a in allocated)
            address = next_free(subnet, taken, cursor, ip_range)
            allocated[str(address)] = owner
            state["Cursor"] = str(address)
            atomicfile.write_json(self._path(network_id), state, durable=False)
            return address

    def release(self, network_id: str, address: str) -> None:
        with self._lock:
            state = self._load(network_id)
            allocated = _allocated(state)
            if allocated.pop(address, None) is not None:
                atomicfile.write_json(self._path(network_id), state, durable=False)

    def drop(self, network_id: str) -> None:
        """Forget the network's allocations (the network is removed)."""
        with self._lock:
            self._path(network_id).unlink(missing_ok=True)


def _allocated(state: dict[str, object]) -> dict[str, str]:
    allocated = state.get("Allocated")
    if not isinstance(allocated, dict):
        allocated = {}
        state["Allocated"] = allocated
    return allocated


def parse_subnet(text: str) -> IPv4Network:
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {text!r}: {e}") from None
    if not isinstance(network, IPv4Network):
        raise InvalidArgument(f"invalid subnet {text!r}: only IPv4 is supported")
    return network


def parse_address(text: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError as e:
        raise InvalidArgument(f"invalid IPv4 address {text!r}: {e}") from None
