"""The network mechanism on the real kernel: bridges, veths in namespaces, NAT, published ports.

Each test has its own bridge name, nftables table and address pool, makes its
own network namespaces to act as containers (and one as another host), and
contacts only 127.0.0.0/8 and addresses in namespaces it made. Afterwards the
host's links, addresses, routes and ruleset are exactly as before.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ketch.errors import Conflict, Forbidden
from ketch.network.manager import NetworkManager, ephemeral_ports
from ketch.network.model import Endpoint, EndpointRequest, Network, PortBinding
from ketch.testing import netlab
from ketch.testing.netlab import Netns

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces"),
    pytest.mark.timeout(120),
]


@dataclass
class Lab:
    root: Path
    bridge: str
    table: str
    pool: str
    stack: ExitStack
    manager: NetworkManager
    events: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)

    def netns(self) -> Netns:
        return self.stack.enter_context(netlab.netns())

    def attach(
        self, ns: Netns, network: str = "bridge", ports: tuple[PortBinding, ...] = (),
        name: str = "", **request: str,
    ) -> Endpoint:  # fmt: skip
        container_id = secrets.token_hex(32)
        return asyncio.run(
            self.manager.attach(
                container_id, name or f"c{container_id[:6]}", ns.path,
                EndpointRequest(network, **request), ports,  # type: ignore[arg-type]
            )
        )  # fmt: skip

    def detach(self, endpoint: Endpoint) -> None:
        asyncio.run(self.manager.detach(endpoint.container_id))

    def new_manager(self) -> NetworkManager:
        return NetworkManager(
            self.root, bridge=self.bridge, address_pools=[(self.pool, 24)], table=self.table
        )

    def nft(self) -> str:
        return netlab.run("nft", "list", "table", "ip", self.table).stdout


def _same_host_state(before: dict[str, str]) -> dict[str, str]:
    # Deleting a namespace finishes in the kernel's own time: give its links a moment.
    after = netlab.host_state()
    for _ in range(40):
        if after == before:
            break
        netlab.wait_for(lambda: False, 0.05)
        after = netlab.host_state()
    return after


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    before = netlab.host_state()
    tag = secrets.token_hex(3)
    with ExitStack() as stack:
        lab = Lab(
            root=tmp_path / "net",
            bridge=f"ktb{tag}",
            table=f"kt_{tag}",
            pool=f"10.{random.randint(100, 199)}.0.0/16",
            stack=stack,
            manager=None,  # type: ignore[arg-type]
        )
        lab.manager = NetworkManager(
            lab.root, bridge=lab.bridge, address_pools=[(lab.pool, 24)], table=lab.table,
            on_event=lambda *event: lab.events.append(event),
        )  # fmt: skip
        try:
            lab.manager.restore(set())
            yield lab
        finally:
            lab.manager.remove_all()
            lab.manager.close()
    assert _same_host_state(before) == before


def _free_port(proto: str = "tcp") -> int:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_veth_appears_in_the_namespace_as_eth0_with_address_mac_and_route(lab: Lab) -> None:
    ns = lab.netns()
    endpoint = lab.attach(ns)
    network = lab.manager.get("bridge")
    assert endpoint.gateway == network.gateway and endpoint.ip.startswith(lab.pool[:-6])
    octets = [int(o) for o in endpoint.ip.split(".")]
    assert endpoint.mac == "02:42:" + ":".join(f"{o:02x}" for o in octets)
    link = ns.exec("ip", "-o", "link", "show", "eth0").stdout
    assert endpoint.mac in link and "UP" in link
    assert f"mtu {netlab.run('cat', f'/sys/class/net/{lab.bridge}/mtu').stdout.strip()}" in link
    addr = ns.exec("ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert f"inet {endpoint.ip}/{endpoint.prefix_len}" in addr
    assert f"default via {network.gateway} dev eth0" in ns.exec("ip", "route").stdout
    # The host side is on the bridge, and goes (with its peer) on detach.
    assert f"master {lab.bridge}" in netlab.run("ip", "-o", "link", "show",
                                                endpoint.host_ifname).stdout  # fmt: skip
    lab.detach(endpoint)
    assert "eth0" not in ns.exec("ip", "-o", "link").stdout
    assert netlab.run("ip", "link", "show", endpoint.host_ifname, check=False).returncode != 0
    assert lab.manager.endpoints(endpoint.container_id) == []
    # Detaching again, or a container whose namespace is gone, is a no-op.
    lab.detach(endpoint)


def test_two_containers_on_one_bridge_reach_each_other(lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    ea, eb = lab.attach(a), lab.attach(b)
    assert ea.ip != eb.ip
    assert a.exec("busybox", "ping", "-c", "1", "-W", "2", eb.ip, check=False).returncode == 0
    assert b.exec("busybox", "ping", "-c", "1", "-W", "2", ea.ip, check=False).returncode == 0


def test_published_tcp_and_udp_ports_answer_from_localhost_and_from_another_host(
    lab: Lab,
) -> None:
    ns = lab.netns()
    ports = (PortBinding(8000, "tcp"), PortBinding(8000, "udp"))
    lab.stack.enter_context(netlab.echo_server(ns, 8000, "web"))
    endpoint = lab.attach(ns, ports=ports)
    tcp, udp = endpoint.ports
    assert tcp.host_port in ephemeral_ports() and udp.host_port in ephemeral_ports()
    assert netlab.ask("tcp", "127.0.0.1", tcp.host_port) == "web ping"
    assert netlab.ask("udp", "127.0.0.1", udp.host_port) == "web ping"
    # Another host reaches the port on an address of this host: here the bridge's gateway,
    # routed to from a namespace joined to this host by a veth pair of the test's own.
    base = random.randint(1, 250)
    outside = lab.stack.enter_context(
        netlab.outside_host(f"10.250.{base}.1", f"10.250.{base}.2")
    )
    gateway = lab.manager.get("bridge").gateway
    assert netlab.ask("tcp", gateway, tcp.host_port, ns=outside) == "web ping"
    assert netlab.ask("udp", gateway, udp.host_port, ns=outside) == "web ping"
    # Detached, the port is gone with its rules.
    lab.detach(endpoint)
    assert f"dport {tcp.host_port}" not in lab.nft()
    assert netlab.ask("tcp", "127.0.0.1", tcp.host_port, timeout=1) == ""


def test_a_published_port_on_one_address(lab: Lab) -> None:
    ns = lab.netns()
    lab.stack.enter_context(netlab.echo_server(ns, 9000, "one"))
    port = _free_port()
    endpoint = lab.attach(ns, ports=(PortBinding(9000, "tcp", "127.0.0.1", port),))
    assert endpoint.ports[0].host_port == port
    assert netlab.ask("tcp", "127.0.0.1", port) == "one ping"
    assert f"ip daddr 127.0.0.1 tcp dport {port}" in lab.nft()


def test_a_taken_port_is_a_conflict_and_leaves_nothing(lab: Lab) -> None:
    ns = lab.netns()
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    try:
        with pytest.raises(Conflict, match=f"Bind for 0.0.0.0:{taken} failed: port is already "
                                           "allocated"):  # fmt: skip
            lab.attach(ns, ports=(PortBinding(80, "tcp", "", taken),))
    finally:
        holder.close()
    network = lab.manager.get("bridge")
    assert lab.manager.endpoints_on(network.id) == []
    assert set(lab.manager.ipam.allocations(network.id).values()) == {"gateway"}
    assert "dnat to" not in lab.nft()
    assert "eth0" not in ns.exec("ip", "-o", "link").stdout
    # Published by ketch already: the same words, and again nothing left of the second try.
    port = _free_port()
    first = lab.attach(ns, ports=(PortBinding(80, "tcp", "", port),))
    other = lab.netns()
    with pytest.raises(Conflict, match=f"Bind for 127.0.0.1:{port} failed"):
        lab.attach(other, ports=(PortBinding(80, "tcp", "127.0.0.1", port),))
    assert "eth0" not in other.exec("ip", "-o", "link").stdout
    assert lab.nft().count("dnat to") == 1
    assert [e.endpoint_id for e in lab.manager.endpoints_on(network.id)] == [first.endpoint_id]


def test_two_bridges_are_isolated_and_an_internal_one_has_no_way_out(lab: Lab) -> None:
    one = lab.manager.create("one")
    two = lab.manager.create("two")
    closed = lab.manager.create("closed", internal=True)
    assert len({one.subnet, two.subnet, closed.subnet, lab.manager.get("bridge").subnet}) == 4
    a, b, c = lab.netns(), lab.netns(), lab.netns()
    ea, eb = lab.attach(a, "one"), lab.attach(b, "two")
    lab.attach(c, "closed")
    assert ea.aliases[0].startswith("c") and ea.container_id[:12] in ea.aliases
    lab.stack.enter_context(netlab.echo_server(b, 7000, "b"))
    lab.stack.enter_context(netlab.echo_server(a, 7000, "a"))
    # The host reaches both; neither reaches the other's bridge.
    assert netlab.ask("tcp", eb.ip, 7000) == "b ping"
    assert netlab.ask("tcp", ea.ip, 7000) == "a ping"
    assert netlab.ask("tcp", eb.ip, 7000, ns=a, timeout=1) == ""
    assert netlab.ask("tcp", ea.ip, 7000, ns=b, timeout=1) == ""
    # Internal: no default route, no NAT, nothing forwarded in or out.
    assert "default" not in c.exec("ip", "route").stdout
    table = lab.nft()
    assert closed.subnet not in table and one.subnet in table
    assert netlab.ask("tcp", ea.ip, 7000, ns=c, timeout=1) == ""
    # Removing a network with an endpoint is refused in dockerd's words; then it goes.
    with pytest.raises(Conflict, match=f"network one id {one.id} has active endpoints"):
        lab.manager.remove("one")
    lab.detach(ea)
    lab.manager.remove("one")
    assert netlab.run("ip", "link", "show", one.bridge, check=False).returncode != 0
    assert f'"{one.bridge}"' not in lab.nft()
    assert [e[1] for e in lab.events if e[3].get("name") == "one"] == [
        "create", "connect", "disconnect", "destroy",
    ]  # fmt: skip


def test_a_network_without_icc_forwards_nothing_between_its_containers(lab: Lab) -> None:
    lab.manager.create("apart", options={"com.docker.network.bridge.enable_icc": "false"})
    lab.manager.create("together")
    a, b, c, d = lab.netns(), lab.netns(), lab.netns(), lab.netns()
    ea, eb = lab.attach(a, "apart"), lab.attach(b, "apart")
    ec, ed = lab.attach(c, "together"), lab.attach(d, "together")
    for ns, tag in ((a, "a"), (b, "b"), (c, "c"), (d, "d")):
        lab.stack.enter_context(netlab.echo_server(ns, 7000, tag))
    # The host (their gateway) reaches them, and they reach it; they do not reach each other.
    assert netlab.ask("tcp", eb.ip, 7000) == "b ping"
    assert netlab.ask("tcp", eb.ip, 7000, ns=a, timeout=1) == ""
    assert netlab.ask("tcp", ea.ip, 7000, ns=b, timeout=1) == ""
    # On a network with icc (the default) they do.
    assert netlab.ask("tcp", ed.ip, 7000, ns=c) == "d ping"
    assert ea.host_ifname in netlab.run("nft", "list", "table", "bridge", lab.table).stdout
    # A restarted manager rebuilds the set; a detached endpoint leaves it.
    lab.manager.close()
    lab.manager = lab.new_manager()
    lab.manager.restore({ea.container_id, eb.container_id, ec.container_id, ed.container_id})
    assert netlab.ask("tcp", eb.ip, 7000, ns=a, timeout=1) == ""
    lab.detach(ea)
    assert ea.host_ifname not in netlab.run("nft", "list", "table", "bridge", lab.table).stdout


def test_predefined_networks_and_lookups(lab: Lab) -> None:
    names = {n.name: n for n in lab.manager.list()}
    assert {"bridge", "host", "none"} <= set(names)
    assert names["host"].driver == "host" and names["none"].driver == "null"
    for name in ("bridge", "host", "none"):
        with pytest.raises(Forbidden, match=f"{name} is a pre-defined network"):
            lab.manager.remove(name)
    bridge: Network = names["bridge"]
    assert lab.manager.get(bridge.id[:10]) is bridge
    with pytest.raises(Exception, match="network nosuch not found"):
        lab.manager.get("nosuch")
    created = lab.manager.create("pruned")
    assert lab.manager.prune() == ["pruned"]
    assert netlab.run("ip", "link", "show", created.bridge, check=False).returncode != 0


def test_restore_keeps_live_endpoints_and_drops_those_of_gone_containers(lab: Lab) -> None:
    live_ns, gone_ns = lab.netns(), lab.netns()
    lab.stack.enter_context(netlab.echo_server(live_ns, 8000, "live"))
    live = lab.attach(live_ns, ports=(PortBinding(8000),))
    gone = lab.attach(gone_ns, ports=(PortBinding(8000, "udp"),))
    port = live.ports[0].host_port
    network = lab.manager.get("bridge")
    # ketchd stops (its rules stay: the container keeps answering while it is down).
    lab.manager.close()
    assert netlab.ask("tcp", "127.0.0.1", port) == "live ping"
    # The container behind `gone` went meanwhile (its namespace with it).
    netlab.run("ip", "netns", "del", gone_ns.name)
    lab.manager = lab.new_manager()
    lab.manager.restore({live.container_id})
    assert [e.ip for e in lab.manager.endpoints(live.container_id)] == [live.ip]
    assert lab.manager.endpoints(gone.container_id) == []
    assert lab.manager.get("bridge").id == network.id
    assert lab.manager.ipam.allocations(network.id) == {
        network.gateway: "gateway", live.ip: live.container_id,
    }  # fmt: skip
    assert netlab.run("ip", "link", "show", gone.host_ifname, check=False).returncode != 0
    table = lab.nft()
    assert f"tcp dport {port}" in table and "udp dport" not in table
    assert netlab.ask("tcp", "127.0.0.1", port) == "live ping"
    # Addresses are not handed out twice: a new endpoint gets neither of the old ones.
    fresh = lab.attach(lab.netns())
    assert fresh.ip not in (live.ip, network.gateway)


def test_a_second_network_is_eth1_without_a_second_default_route(lab: Lab) -> None:
    ns = lab.netns()
    lab.manager.create("second")
    container_id = secrets.token_hex(32)

    def attach(network: str) -> Endpoint:
        return asyncio.run(lab.manager.attach(
            container_id, "c2", ns.path, EndpointRequest(network), ()  # type: ignore[arg-type]
        ))  # fmt: skip

    first, second = attach("bridge"), attach("second")
    try:
        addresses = ns.exec("ip", "-o", "-4", "addr").stdout
        assert f"eth0    inet {first.ip}/{first.prefix_len}" in addresses
        assert f"eth1    inet {second.ip}/{second.prefix_len}" in addresses
        routes = ns.exec("ip", "route").stdout
        assert routes.count("default via") == 1
        assert f"default via {first.gateway} dev eth0" in routes
        assert "UP" in ns.exec("ip", "-o", "link", "show", "eth1").stdout
    finally:
        asyncio.run(lab.manager.detach(container_id))
    assert "eth" not in ns.exec("ip", "-o", "link").stdout
