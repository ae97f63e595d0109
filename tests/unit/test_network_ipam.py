"""IPAM's pure logic: subnet choice from pools, round-robin addresses, persisted allocations."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from ketch.errors import InvalidArgument, Unavailable
from ketch.network import ipam

N = IPv4Network
A = IPv4Address


def test_first_free_subnet_of_the_default_pool() -> None:
    assert ipam.choose_subnet(ipam.DEFAULT_POOLS, []) == N("10.89.0.0/24")
    in_use = [N("10.89.0.0/24"), N("10.89.1.0/25")]
    assert ipam.choose_subnet(ipam.DEFAULT_POOLS, in_use) == N("10.89.2.0/24")


def test_subnet_choice_skips_host_routes_wider_than_a_subnet() -> None:
    # A host route of 10.89.0.0/23 covers the first two /24s.
    assert ipam.choose_subnet(ipam.DEFAULT_POOLS, [N("10.89.0.0/23")]) == N("10.89.2.0/24")


def test_subnet_choice_never_takes_dockers_bridge() -> None:
    pools = [ipam.AddressPool.parse("172.16.0.0/12", 16)]
    assert ipam.choose_subnet(pools, [N("172.16.0.0/16")]) == N("172.18.0.0/16")


def test_subnet_choice_moves_to_the_next_pool_and_fails_when_all_are_used() -> None:
    pools = [ipam.AddressPool.parse("10.1.0.0/24", 25), ipam.AddressPool.parse("10.2.0.0/24", 24)]
    assert ipam.choose_subnet(pools, [N("10.1.0.0/24")]) == N("10.2.0.0/24")
    with pytest.raises(Unavailable):
        ipam.choose_subnet(pools, [N("10.0.0.0/8")])


def test_pool_and_bip_validation() -> None:
    with pytest.raises(InvalidArgument):
        ipam.AddressPool.parse("10.1.0.0/16", 8)
    with pytest.raises(InvalidArgument):
        ipam.AddressPool.parse("10.1.0.1/16", 24)
    assert ipam.parse_bip("10.5.0.1/24") == (N("10.5.0.0/24"), A("10.5.0.1"))
    with pytest.raises(InvalidArgument):
        ipam.parse_bip("10.5.0.0/24")


def test_gateway_is_the_first_host_address() -> None:
    assert ipam.default_gateway(N("10.89.3.0/24")) == A("10.89.3.1")
    with pytest.raises(InvalidArgument):
        ipam.default_gateway(N("10.89.3.0/31"))


def test_route_table_parsing_leaves_out_the_default_route() -> None:
    text = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "ketch0\t0000590A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    assert ipam.parse_route_table(text) == [
        ("eth0", N("192.0.2.0/24")),
        ("ketch0", N("10.89.0.0/24")),
    ]


def test_next_free_skips_network_broadcast_and_taken_and_wraps() -> None:
    subnet = N("10.0.0.0/29")  # hosts .1 to .6
    assert ipam.next_free(subnet, [A("10.0.0.1")], None) == A("10.0.0.2")
    assert ipam.next_free(subnet, [A("10.0.0.1")], A("10.0.0.6")) == A("10.0.0.2")
    assert ipam.next_free(subnet, [A("10.0.0.1"), A("10.0.0.5")], A("10.0.0.4")) == A("10.0.0.6")
    taken = [A(f"10.0.0.{i}") for i in range(1, 7)]
    with pytest.raises(Unavailable):
        ipam.next_free(subnet, taken, None)


def test_next_free_stays_in_the_ip_range() -> None:
    subnet, ip_range = N("10.0.0.0/24"), N("10.0.0.128/30")
    got = [ipam.next_free(subnet, [], A(f"10.0.0.{n}"), ip_range) for n in (127, 128, 130, 131)]
    assert got == [A("10.0.0.128"), A("10.0.0.129"), A("10.0.0.131"), A("10.0.0.128")]


def test_allocations_are_unique_round_robin_and_survive_a_new_instance(tmp_path: Path) -> None:
    subnet = N("10.9.0.0/29")
    store = ipam.Ipam(tmp_path)
    store.reserve("net", A("10.9.0.1"), "gateway")
    first = store.allocate("net", subnet, "c1")
    second = store.allocate("net", subnet, "c2")
    assert (first, second) == (A("10.9.0.2"), A("10.9.0.3"))
    store.release("net", str(first))
    # A restarted daemon reads the same state: the released address is reused last.
    again = ipam.Ipam(tmp_path)
    got = [again.allocate("net", subnet, f"c{i}") for i in range(3, 7)]
    assert got == [A("10.9.0.4"), A("10.9.0.5"), A("10.9.0.6"), A("10.9.0.2")]
    with pytest.raises(Unavailable):
        again.allocate("net", subnet, "c7")
    assert again.allocations("net")["10.9.0.3"] == "c2"


def test_reserving_an_address_someone_holds_is_refused(tmp_path: Path) -> None:
    store = ipam.Ipam(tmp_path)
    store.reserve("net", A("10.9.0.5"), "c1")
    store.reserve("net", A("10.9.0.5"), "c1")  # the same owner again: fine
    with pytest.raises(InvalidArgument, match="Address already in use"):
        store.reserve("net", A("10.9.0.5"), "c2")
    store.drop("net")
    store.reserve("net", A("10.9.0.5"), "c2")


def test_ephemeral_ports_are_the_kernels_range_as_dockerd_reads_it(tmp_path: Path) -> None:
    from ketch.network.manager import FALLBACK_EPHEMERAL_PORTS, ephemeral_ports

    kernel = tmp_path / "ip_local_port_range"
    kernel.write_text("32768\t60999\n")
    assert ephemeral_ports(kernel) == range(32768, 61000)
    kernel.write_text("garbage\n")
    assert ephemeral_ports(kernel) == FALLBACK_EPHEMERAL_PORTS == range(49153, 65536)
    assert ephemeral_ports(tmp_path / "missing") == FALLBACK_EPHEMERAL_PORTS
