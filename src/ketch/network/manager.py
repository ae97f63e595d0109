"""The network part as containers and the API use it: networks, endpoints, published ports.

`NetworkManager` keeps the networks (root/networks/<id>.json), each
container's endpoints (root/endpoints/<container id>.json) and IPAM's
allocations (root/ipam/), and realises them with links (bridges, veths) and
firewall rules (ketch's nftables table). The predefined networks of Docker,
"bridge" (the default bridge), "host" and "none", always exist; host and null
networks have no links. Every step that can fail comes before the record that
makes it visible, and a failed attach undoes what it did, so nothing is left
half set up. Events go out in the caller's thread (the daemon's event loop).

Rules and links stay when ketchd stops (`close()`): running containers keep
forwarding while it is down. At the next start `restore()` brings the links
and the table back in step with the containers still alive and drops the
endpoints of those that went meanwhile.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import errno
import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from ketch import atomicfile
from ketch.errors import Conflict, Forbidden, InvalidArgument, NotFound
from ketch.network import ipam, links, netns
from ketch.network.dns import DnsServer
from ketch.network.firewall import BridgeRule, Firewall, PortRule
from ketch.network.model import (
    BRIDGE,
    HOST,
    NULL,
    Endpoint,
    EndpointRequest,
    Network,
    PortBinding,
)
from ketch.timestamps import rfc3339_nano

PREDEFINED = ("bridge", "host", "none")
# dockerd's portallocator: the kernel's ephemeral range, or this where it cannot be read.
FALLBACK_EPHEMERAL_PORTS = range(49153, 65536)
PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
ICC_OPTION = "com.docker.network.bridge.enable_icc"  # "false": containers cannot talk
MTU_OPTION = "com.docker.network.driver.mtu"

# kind, action, actor id (the network's), attributes: EventBus.publish's signature.
EventSink = Callable[[str, str, str, dict[str, str]], None]


class NetworkManager:
    def __init__(
        self,
        root: Path,
        *,
        bridge: str = "ketch0",
        bip: str = "",
        address_pools: Sequence[tuple[str, int]] | None = None,
        mtu: int = 0,
        table: str = "ketch",
        on_event: EventSink | None = None,
        dns: DnsServer | None = None,
    ) -> None:
        self.root = root
        # User networks' embedded DNS, at each one's gateway once its bridge is up.
        self.dns = dns
        self._dns_lock: asyncio.Lock | None = None  # made in the loop that serves the DNS
        self._dns_loop: asyncio.AbstractEventLoop | None = None
        self.default_bridge = bridge
        self.pools = (
            [ipam.AddressPool.parse(base, size) for base, size in address_pools]
            if address_pools
            else list(ipam.DEFAULT_POOLS)
        )
        self.mtu = mtu
        self.on_event = on_event
        self.firewall = Firewall(table)
        self.ipam = ipam.Ipam(root / "ipam")
        self._networks_dir = root / "networks"
        self._endpoints_dir = root / "endpoints"
        self._networks_dir.mkdir(parents=True, exist_ok=True)
        self._endpoints_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._networks: dict[str, Network] = {}
        self._endpoints: dict[str, list[Endpoint]] = {}
        self._claimed_ports: set[tuple[str, str, int]] = set()  # (proto, host_ip, port) mid-attach
        self._ready: set[str] = set()  # bridges set up (link and rules) by this process
        self._table_ready = False
        self._host_mtu = 0
        self._load()
        self._ensure_predefined(bip)

    # -- records -------------------------------------------------------------------------

    def _load(self) -> None:
        for path in sorted(self._networks_dir.glob("*.json")):
            data = json.loads(path.read_text())
            network = Network(**data)
            self._networks[network.id] = network
        for path in sorted(self._endpoints_dir.glob("*.json")):
            items = json.loads(path.read_text())
            self._endpoints[path.stem] = [Endpoint.from_dict(item) for item in items]

    def _save_network(self, network: Network) -> None:
        atomicfile.write_json(
            self._networks_dir / f"{network.id}.json", dataclasses.asdict(network)
        )

    def _save_endpoints(self, container_id: str) -> None:
        path = self._endpoints_dir / f"{container_id}.json"
        endpoints = self._endpoints.get(container_id) or []
        if endpoints:
            atomicfile.write_json(path, [e.to_dict() for e in endpoints], durable=False)
        else:
            self._endpoints.pop(container_id, None)
            path.unlink(missing_ok=True)

    def _ensure_predefined(self, bip: str) -> None:
        with self._lock:
            by_name = {n.name: n for n in self._networks.values()}
            for name, driver in (("host", HOST), ("none", NULL)):
                if name not in by_name:
                    self._add_record(Network(_new_id(), name, driver, rfc3339_nano()))
            current = by_name.get("bridge")
            if bip:
                subnet, gateway = ipam.parse_bip(bip)
            elif current is not None:
                return
            else:
                subnet = ipam.choose_subnet(self.pools, self._subnets_in_use())
                gateway = ipam.default_gateway(subnet)
            if current is not None:
                if current.subnet == str(subnet) and current.gateway == str(gateway):
                    return
                if self.endpoints_on(current.id):
                    return  # containers still hold addresses of the old subnet
                self.ipam.drop(current.id)
                current.subnet, current.gateway = str(subnet), str(gateway)
                current.bridge = self.default_bridge
                self._save_network(current)
                network = current
            else:
                network = Network(
                    _new_id(),
                    "bridge",
                    BRIDGE,
                    rfc3339_nano(),
                    subnet=str(subnet),
                    gateway=str(gateway),
                    bridge=self.default_bridge,
                    options={
                        BRIDGE_NAME_OPTION: self.default_bridge,
                        "com.docker.network.bridge.default_bridge": "true",
                        ICC_OPTION: "true",
                        "com.docker.network.bridge.enable_ip_masquerade": "true",
                        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                    },
                    mtu=self.mtu,
                )
                self._add_record(network)
            self.ipam.reserve(network.id, gateway, "gateway")

    def _add_record(self, network: Network) -> None:
        self._save_network(network)
        self._networks[network.id] = network

    def _subnets_in_use(self, exclude: str = "") -> list[IPv4Network]:
        bridges = [n.bridge for n in self._networks.values() if n.bridge]
        nets = [
            IPv4Network(n.subnet)
            for n in self._networks.values()
            if n.subnet and n.id != exclude
        ]
        return nets + ipam.host_routes(ignore_interfaces=bridges)

    # -- networks (the API's side) ---------------------------------------------------------

    def get(self, name_or_id: str) -> Network:
        with self._lock:
            networks = list(self._networks.values())
        for network in networks:
            if network.id == name_or_id:
                return network
        for network in networks:
            if network.name == name_or_id:
                return network
        matches = [n for n in networks if name_or_id and n.id.startswith(name_or_id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(
                f"network {name_or_id} is ambiguous ({len(matches)} matches found based on ID)"
            )
        raise NotFound(f"network {name_or_id} not found")

    def list(self) -> builtins.list[Network]:
        with self._lock:
            return sorted(self._networks.values(), key=lambda n: (n.created, n.name))

    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        attachable: bool = False,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        aux_addresses: dict[str, str] | None = None,
        ipam_options: dict[str, str] | None = None,
    ) -> Network:
        if not name:
            raise InvalidArgument("network name is required")
        if driver in (HOST, NULL):
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver != BRIDGE:
            raise NotFound(f'plugin "{driver}" not found')
        options = dict(options or {})
        with self._lock:
            if any(n.name == name for n in self._networks.values()):
                raise Conflict(f"network with name {name} already exists")
            network_id = _new_id()
            if subnet:
                chosen = ipam.parse_subnet(subnet)
                for other in self._subnets_in_use():
                    if chosen.overlaps(other):
                        raise InvalidArgument(
                            f"invalid pool request: Pool overlaps with other one on this "
                            f"address space ({chosen} overlaps {other})"
                        )
            else:
                chosen = ipam.choose_subnet(self.pools, self._subnets_in_use())
            if gateway:
                gateway_ip = ipam.parse_address(gateway)
                if gateway_ip not in chosen:
                    raise InvalidArgument(
                        f"invalid gateway {gateway}: not in subnet {chosen}"
                    )
            else:
                gateway_ip = ipam.default_gateway(chosen)
            aux = {name: ipam.parse_address(a) for name, a in (aux_addresses or {}).items()}
            for name_, address in aux.items():
                if address not in chosen:
                    raise InvalidArgument(
                        f"invalid auxiliary address {name_}={address}: not in subnet {chosen}"
                    )
            range_net = ipam.parse_subnet(ip_range) if ip_range else None
            if range_net is not None and not range_net.subnet_of(chosen):
                raise InvalidArgument(f"ip-range {ip_range} is not in subnet {chosen}")
            bridge = options.get(BRIDGE_NAME_OPTION) or f"kt-{network_id[:12]}"
            if len(bridge) > 15:
                raise InvalidArgument(f"bridge name {bridge!r} is longer than 15 characters")
            if any(n.bridge == bridge for n in self._networks.values()):
                raise Conflict(f"bridge name {bridge} is used by another network")
            mtu = int(options.get(MTU_OPTION) or 0)
            network = Network(
                network_id,
                name,
                BRIDGE,
                rfc3339_nano(),
                subnet=str(chosen),
                gateway=str(gateway_ip),
                bridge=bridge,
                internal=internal,
                attachable=attachable,
                labels=dict(labels or {}),
                options=options,
                ip_range=ip_range,
                mtu=mtu,
                aux_addresses={name_: str(address) for name_, address in aux.items()},
                ipam_options=dict(ipam_options or {}),
            )
            try:
                self.ipam.reserve(network.id, gateway_ip, "gateway")
                for name_, address in aux.items():
                    self.ipam.reserve(network.id, address, f"aux:{name_}")
                self._bring_up(network)
                self._add_record(network)
            except BaseException:
                self._tear_down_bridge(network)
                self.ipam.drop(network.id)
                raise
        self._emit("create", network)
        return network

    def remove(self, name_or_id: str) -> None:
        network = self.get(name_or_id)
        if network.name in PREDEFINED:
            raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        with self._lock:
            if self.endpoints_on(network.id):
                raise Conflict(
                    f"error while removing network: network {network.name} id {network.id} "
                    f"has active endpoints"
                )
            self._tear_down_bridge(network)
            self.ipam.drop(network.id)
            (self._networks_dir / f"{network.id}.json").unlink(missing_ok=True)
            self._networks.pop(network.id, None)
        dns, loop = self.dns, self._dns_loop
        if dns is not None and loop is not None and network.id in dns.serving():
            # remove() runs in a worker thread (netlink): the listener is the loop's to stop.
            loop.call_soon_threadsafe(lambda: loop.create_task(dns.stop(network.id)))
        self._emit("destroy", network)

    def prune(self, matches: Callable[[Network], bool] | None = None) -> builtins.list[str]:
        """Remove the user networks no container is on (and `matches`, if given); their
        names."""
        removed = []
        for network in self.list():
            if network.name in PREDEFINED or self.endpoints_on(network.id):
                continue
            if matches is not None and not matches(network):
                continue
            try:
                self.remove(network.id)
            except (Conflict, NotFound):
                continue  # a container joined it meanwhile, or someone else removed it
            removed.append(network.name)
        return removed

    def endpoints_on(self, network_id: str) -> builtins.list[Endpoint]:
        with self._lock:
            return [
                e
                for endpoints in self._endpoints.values()
                for e in endpoints
                if e.network_id == network_id
            ]

    # -- endpoints (the containers' side) --------------------------------------------------

    def endpoints(self, container_id: str) -> builtins.list[Endpoint]:
        with self._lock:
            return list(self._endpoints.get(container_id) or [])

    async def attach(
        self,
        container_id: str,
        container_name: str,
        netns_path: str,
        request: EndpointRequest,
        ports: Sequence[PortBinding] = (),
    ) -> Endpoint:
        network = self.get(request.network)
        endpoint = await asyncio.to_thread(
            self._attach, network, container_id, container_name, netns_path, request, ports
        )
        await self._serve_dns(network)
        self._emit("connect", network, container_id)
        return endpoint

    # -- the embedded DNS of user networks --------------------------------------------

    def resolve(self, network_id: str, name: str) -> builtins.list[str]:
        """The addresses `name` (a container's name, alias or short id) has on the network."""
        wanted = name.lower()
        return [e.ip for e in self.endpoints_on(network_id)
                if e.ip and wanted in (a.lower() for a in e.aliases)]  # fmt: skip

    def resolve_link(self, network_id: str, name: str, asker: str) -> builtins.list[str]:
        """A link's alias, for the container that made the link only (on a user network a
        link is a name scoped to its container, as dockerd's)."""
        for endpoint in self.endpoints_on(network_id):
            if endpoint.ip != asker:
                continue
            for link in endpoint.links:
                target, _, alias = link.partition(":")
                if (alias or target).rsplit("/", 1)[-1].lower() == name:
                    return self.resolve(network_id, target.lstrip("/"))
        return []

    def upstreams_for(self, network_id: str, asker: str) -> builtins.list[str]:
        """The resolvers of the container asking from `asker` on the network (its --dns);
        empty: the host's."""
        for endpoint in self.endpoints_on(network_id):
            if endpoint.ip == asker:
                return list(endpoint.dns)
        return []

    async def _serve_dns(self, network: Network) -> None:
        if self.dns is None or network.driver != BRIDGE or network.is_default_bridge:
            return
        self._dns_loop = asyncio.get_running_loop()
        if self._dns_lock is None:
            self._dns_lock = asyncio.Lock()
        # Containers starting at once on a new network would each find it not served yet
        # and bind the same address: one at a time, the first serves it.
        async with self._dns_lock:
            if network.id not in self.dns.serving():
                await self.dns.serve(network.id, network.gateway, 53,
                                     network_name=network.name, forward=not network.internal,
                                     clients=network.subnet)  # fmt: skip

    async def serve_dns(self) -> None:
        """After restore(): the DNS of every user network whose bridge is up."""
        for network in self.list():
            if network.bridge in self._ready:
                await self._serve_dns(network)

    async def close_dns(self) -> None:
        if self.dns is not None:
            await self.dns.close()

    def _attach(
        self,
        network: Network,
        container_id: str,
        container_name: str,
        netns_path: str,
        request: EndpointRequest,
        ports: Sequence[PortBinding],
    ) -> Endpoint:
        name = container_name.lstrip("/")
        with self._lock:
            existing = self._endpoints.get(container_id) or []
            if any(e.network_id == network.id for e in existing):
                raise Forbidden(
                    f"endpoint with name {name} already exists in network {network.name}"
                )
            first = not any(e.ip for e in existing)
        endpoint_id = _new_id()
        if network.driver != BRIDGE:
            # host and none: the container's namespace says it all; nothing to make.
            endpoint = Endpoint(network.id, network.name, container_id, endpoint_id, "", 0,
                                "", "", "", aliases=list(request.aliases))  # fmt: skip
            self._record(endpoint)
            return endpoint
        subnet = IPv4Network(network.subnet)
        if request.ipv4_address:
            if network.is_default_bridge:
                raise InvalidArgument(
                    "user specified IP address is supported on user defined networks only"
                )
            address = ipam.parse_address(request.ipv4_address)
            if address not in subnet:
                raise InvalidArgument(
                    f"no configured subnet contains IP address {request.ipv4_address}"
                )
            self.ipam.reserve(network.id, address, container_id)
        else:
            range_net = IPv4Network(network.ip_range) if network.ip_range else None
            address = self.ipam.allocate(network.id, subnet, container_id, range_net)
        claimed: builtins.list[tuple[str, str, int]] = []
        host_ifname = f"veth{endpoint_id[:7]}"
        linked = False
        rules: builtins.list[PortRule] = []
        try:
            bindings = (
                [] if network.internal else self._claim_ports(ports, claimed, name, endpoint_id)
            )
            rules = [
                PortRule(endpoint_id, str(address), b.container_port, b.proto, b.host_ip,
                         b.host_port)
                for b in bindings
            ]  # fmt: skip
            self._ensure_ready(network)
            links.add_container_link(
                links.ContainerLink(
                    host_ifname=host_ifname,
                    bridge=network.bridge,
                    netns_path=netns_path,
                    address=IPv4Interface(f"{address}/{subnet.prefixlen}"),
                    gateway=IPv4Address(network.gateway),
                    mac=request.mac_address or links.docker_mac(address),
                    mtu=self._mtu(network),
                    default_route=first and not network.internal,
                )
            )
            linked = True
            if _isolated(network):
                self.firewall.isolate(host_ifname)
            self.firewall.add_ports(rules)
            aliases: builtins.list[str] = []
            if not network.is_default_bridge:
                for alias in (name, *request.aliases, container_id[:12]):
                    if alias and alias not in aliases:
                        aliases.append(alias)
            endpoint = Endpoint(
                network_id=network.id,
                network_name=network.name,
                container_id=container_id,
                endpoint_id=endpoint_id,
                ip=str(address),
                prefix_len=subnet.prefixlen,
                gateway=network.gateway,
                mac=request.mac_address or links.docker_mac(address),
                host_ifname=host_ifname,
                aliases=aliases,
                ports=bindings,
                dns=list(request.dns),
                links=list(request.links),
            )
            self._record(endpoint)
            return endpoint
        except BaseException:
            if rules:
                self.firewall.remove_ports(endpoint_id)
            if linked:
                if _isolated(network):
                    self.firewall.release(host_ifname)
                links.delete_link(host_ifname)
            self.ipam.release(network.id, str(address))
            raise
        finally:
            with self._lock:
                self._claimed_ports.difference_update(claimed)

    def _record(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._endpoints.setdefault(endpoint.container_id, []).append(endpoint)
            try:
                self._save_endpoints(endpoint.container_id)
            except BaseException:
                self._endpoints[endpoint.container_id].remove(endpoint)
                raise

    def _published(self) -> set[tuple[str, str, int]]:
        return {
            (p.proto, p.host_ip or "0.0.0.0", p.host_port)
            for endpoints in self._endpoints.values()
            for e in endpoints
            for p in e.ports
        } | self._claimed_ports

    def _claim_ports(
        self,
        ports: Iterable[PortBinding],
        claimed: builtins.list[tuple[str, str, int]],
        name: str,
        endpoint_id: str,
    ) -> builtins.list[PortBinding]:
        """Host ports for `ports` (free ones for 0), claimed until the endpoint is recorded;
        Conflict with dockerd's words for one already taken."""
        realised = []
        with self._lock:
            for binding in ports:
                host_ip = binding.host_ip or "0.0.0.0"
                taken = self._published() | set(claimed)
                if binding.host_port:
                    port = binding.host_port
                    if _overlaps(taken, binding.proto, host_ip, port) or not _bindable(
                        binding.proto, host_ip, port
                    ):
                        raise Conflict(
                            f"driver failed programming external connectivity on endpoint "
                            f"{name} ({endpoint_id}): Bind for {host_ip}:{port} failed: "
                            f"port is already allocated"
                        )
                else:
                    ephemeral = ephemeral_ports()
                    port = next(
                        (
                            p
                            for p in ephemeral
                            if not _overlaps(taken, binding.proto, host_ip, p)
                            and _bindable(binding.proto, host_ip, p)
                        ),
                        0,
                    )
                    if not port:
                        raise Conflict(f"no free port in {ephemeral} on {host_ip}")
                key = (binding.proto, host_ip, port)
                claimed.append(key)
                self._claimed_ports.add(key)
                realised.append(dataclasses.replace(binding, host_port=port))
        return realised

    def create_namespace(self, path: str) -> None:
        netns.create(Path(path))

    def remove_namespace(self, path: str) -> None:
        netns.remove(Path(path))

    async def detach(
        self, container_id: str, network: str | None = None, *, namespace_gone: bool = False
    ) -> None:
        gone = await asyncio.to_thread(self._detach, container_id, network, namespace_gone)
        for endpoint in gone:
            self._emit_for(endpoint, "disconnect")

    def _detach(
        self, container_id: str, network: str | None, namespace_gone: bool = False
    ) -> builtins.list[Endpoint]:
        with self._lock:
            endpoints = list(self._endpoints.get(container_id) or [])
        if network is not None:
            target = self.get(network)
            endpoints = [e for e in endpoints if e.network_id == target.id]
        for endpoint in endpoints:
            self._drop_endpoint(endpoint, delete_link=not namespace_gone)
        return endpoints

    def _drop_endpoint(self, endpoint: Endpoint, delete_link: bool = True) -> None:
        if endpoint.ports:
            self.firewall.remove_ports(endpoint.endpoint_id)
        network = self._networks.get(endpoint.network_id)
        if endpoint.host_ifname and network is not None and _isolated(network):
            self.firewall.release(endpoint.host_ifname)
        if endpoint.host_ifname and delete_link:
            # The peer in the container goes with it. When the container's namespace is
            # gone the kernel takes the pair away itself; deleting it here costs ~10 ms.
            links.delete_link(endpoint.host_ifname)
        if endpoint.ip:
            self.ipam.release(endpoint.network_id, endpoint.ip)
        with self._lock:
            remaining = [
                e
                for e in self._endpoints.get(endpoint.container_id) or []
                if e.endpoint_id != endpoint.endpoint_id
            ]
            self._endpoints[endpoint.container_id] = remaining
            self._save_endpoints(endpoint.container_id)

    # -- bringing links and rules up ------------------------------------------------------

    def _mtu(self, network: Network) -> int:
        if network.mtu:
            return network.mtu
        if self.mtu:
            return self.mtu
        if not self._host_mtu:
            self._host_mtu = links.host_mtu()
        return self._host_mtu

    def _ensure_table(self) -> None:
        if not self._table_ready:
            self.firewall.ensure()
            self._table_ready = True

    def _ensure_ready(self, network: Network) -> None:
        with self._lock:
            if network.bridge not in self._ready:
                self._bring_up(network)

    def _bring_up(self, network: Network) -> None:
        """The bridge with its gateway, and its rules (made anew: never twice)."""
        self._ensure_table()
        subnet = IPv4Network(network.subnet)
        links.ensure_bridge(
            network.bridge, IPv4Interface(f"{network.gateway}/{subnet.prefixlen}"),
            self._mtu(network),
        )  # fmt: skip
        if not network.internal:
            # dockerd sets it too: without it nothing is forwarded out of a bridge.
            links.enable_ip_forward()
        self.firewall.remove_bridge(network.bridge)
        self.firewall.add_bridge(_bridge_rule(network))
        self._ready.add(network.bridge)

    def _tear_down_bridge(self, network: Network) -> None:
        if self._table_ready or self.firewall.exists():
            self.firewall.remove_bridge(network.bridge)
        links.delete_link(network.bridge)
        self._ready.discard(network.bridge)

    def restore(self, live_container_ids: set[str]) -> None:
        """At the daemon's start: drop the endpoints of containers that are gone (their
        addresses, rules and host veths), release addresses no endpoint holds, bring
        every bridge up and rebuild the table (in one transaction: live forwarding does not
        stop) for the endpoints that remain."""
        with self._lock:
            for container_id, endpoints in list(self._endpoints.items()):
                if container_id in live_container_ids:
                    continue
                for endpoint in endpoints:
                    if endpoint.host_ifname:
                        links.delete_link(endpoint.host_ifname)
                    if endpoint.ip:
                        self.ipam.release(endpoint.network_id, endpoint.ip)
                self._endpoints[container_id] = []
                self._save_endpoints(container_id)
            held = {(e.network_id, e.ip) for es in self._endpoints.values() for e in es}
            for network in self._networks.values():
                if network.driver != BRIDGE:
                    continue
                for address, owner in self.ipam.allocations(network.id).items():
                    reserved = owner == "gateway" or owner.startswith("aux:")
                    if not reserved and (network.id, address) not in held:
                        self.ipam.release(network.id, address)
            bridges = [n for n in self._networks.values() if n.driver == BRIDGE]
            for network in bridges:
                subnet = IPv4Network(network.subnet)
                links.ensure_bridge(
                    network.bridge, IPv4Interface(f"{network.gateway}/{subnet.prefixlen}"),
                    self._mtu(network),
                )  # fmt: skip
                if not network.internal:
                    links.enable_ip_forward()
            rules = [
                PortRule(e.endpoint_id, e.ip, p.container_port, p.proto, p.host_ip, p.host_port)
                for es in self._endpoints.values()
                for e in es
                for p in e.ports
            ]
            isolated = [
                e.host_ifname
                for es in self._endpoints.values()
                for e in es
                if e.host_ifname and e.network_id in self._networks
                and _isolated(self._networks[e.network_id])
            ]  # fmt: skip
            self.firewall.rebuild([_bridge_rule(n) for n in bridges], rules, isolated)
            self._table_ready = True
            self._ready = {n.bridge for n in bridges}

    def remove_all(self) -> None:
        """Take every link and rule ketch made off the host (the records stay): each
        container's host veth, each bridge, the table."""
        with self._lock:
            for endpoints in self._endpoints.values():
                for endpoint in endpoints:
                    if endpoint.host_ifname:
                        links.delete_link(endpoint.host_ifname)
            for network in self._networks.values():
                if network.bridge:
                    links.delete_link(network.bridge)
            self.firewall.remove_all()
            self._ready.clear()
            self._table_ready = False

    def close(self) -> None:
        """Let go of the netlink socket and the nftables context; links and rules stay, so
        running containers keep forwarding while ketchd is down."""
        self.firewall.close()
        links.close()

    # -- events ---------------------------------------------------------------------------

    def _emit(self, action: str, network: Network, container_id: str = "") -> None:
        if self.on_event is None:
            return
        attributes = {"name": network.name, "type": network.driver}
        if container_id:
            attributes["container"] = container_id
        self.on_event("network", action, network.id, attributes)

    def _emit_for(self, endpoint: Endpoint, action: str) -> None:
        if self.on_event is None:
            return
        self.on_event(
            "network",
            action,
            endpoint.network_id,
            {"name": endpoint.network_name, "type": self._driver_of(endpoint.network_id),
             "container": endpoint.container_id},
        )  # fmt: skip

    def _driver_of(self, network_id: str) -> str:
        network = self._networks.get(network_id)
        return network.driver if network is not None else BRIDGE


def ephemeral_ports(path: Path = PORT_RANGE_FILE) -> range:
    """Where a published port without a host port is put: the kernel's ephemeral range, as
    dockerd's portallocator reads it (the fixed 49153-65535 would take the ports a compose
    file publishes at 49153 for the container's own other ports)."""
    try:
        first, last = (int(word) for word in path.read_text().split())
    except (OSError, ValueError):
        return FALLBACK_EPHEMERAL_PORTS
    return range(first, last + 1) if 0 < first <= last <= 65535 else FALLBACK_EPHEMERAL_PORTS


def _new_id() -> str:
    return secrets.token_hex(32)


def _isolated(network: Network) -> bool:
    # Go's ParseBool spellings of false, as dockerd reads the option.
    return network.options.get(ICC_OPTION, "true") in ("0", "f", "F", "false", "FALSE", "False")


def _bridge_rule(network: Network) -> BridgeRule:
    return BridgeRule(network.bridge, network.subnet, network.internal)


def _overlaps(taken: set[tuple[str, str, int]], proto: str, host_ip: str, port: int) -> bool:
    """A binding on `host_ip` clashes with one on the same address or on every address."""
    return any(
        p == proto and n == port and (ip == host_ip or "0.0.0.0" in (ip, host_ip))
        for p, ip, n in taken
    )


def _bindable(proto: str, host_ip: str, port: int) -> bool:
    """Whether no process holds `port` on `host_ip` (binding a socket there, then letting
    go)."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as probe:
        # A closed connection's TIME_WAIT does not hold the port against a listener.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host_ip, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            if e.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(
                    f"host address {host_ip} is not an address of this host"
                ) from None
            raise
    return True
