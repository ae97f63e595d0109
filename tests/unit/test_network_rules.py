"""The firewall's commands and the manager's port clashes, as pure logic."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from ketch.network import firewall
from ketch.network.firewall import BridgeRule, PortRule
from ketch.network.links import docker_mac
from ketch.network.manager import _overlaps


def test_docker_mac_scheme() -> None:
    assert docker_mac(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"


def test_bridge_rules_masquerade_only_non_internal_networks() -> None:
    outward = firewall.bridge_commands("t", BridgeRule("br1", "10.1.0.0/24"))
    internal = firewall.bridge_commands("t", BridgeRule("br2", "10.2.0.0/24", internal=True))
    assert any("ip saddr 10.1.0.0/24 oifname != \"br1\" masquerade" in c for c in outward)
    assert not any("10.2.0.0/24" in c for c in internal)
    assert any('iifname "br2" oifname != "br2" drop' in c for c in internal)
    assert any('oifname "br2" iifname != "br2" drop' in c for c in internal)
    # Every rule is tagged, so the bridge's rules can be found and removed.
    rules = [c for c in outward + internal if c.startswith("add rule")]
    assert all('comment "b:br' in c for c in rules)


def test_port_rules_any_address_or_one() -> None:
    commands = firewall.port_commands(
        "t",
        [
            PortRule("e1", "10.1.0.2", 80, "tcp", "", 8080),
            PortRule("e1", "10.1.0.2", 53, "udp", "127.0.0.1", 5353),
        ],
    )
    assert commands == [
        'add rule ip t ports tcp dport 8080 dnat to 10.1.0.2:80 comment "p:e1"',
        'add rule ip t ports ip daddr 127.0.0.1 udp dport 5353 dnat to 10.1.0.2:53 '
        'comment "p:e1"',
    ]
    with pytest.raises(ValueError):
        firewall.port_commands("t", [PortRule("e1", "10.1.0.2", 80, "sctp", "", 80)])


def test_rebuild_replaces_the_table_in_one_batch() -> None:
    commands = firewall.rebuild_commands("t", [BridgeRule("br1", "10.1.0.0/24")], [])
    assert commands[:3] == ["add table ip t", "delete table ip t", "add table ip t"]


def test_names_with_quotes_are_refused() -> None:
    with pytest.raises(ValueError):
        firewall.bridge_commands("t", BridgeRule('br"; flush ruleset', "10.1.0.0/24"))


def test_port_clash_on_the_same_address_or_on_every_address() -> None:
    taken = {("tcp", "0.0.0.0", 8080), ("udp", "127.0.0.1", 53)}
    assert _overlaps(taken, "tcp", "127.0.0.1", 8080)
    assert not _overlaps(taken, "udp", "127.0.0.1", 8080)
    assert _overlaps(taken, "udp", "0.0.0.0", 53)
    assert _overlaps(taken, "udp", "127.0.0.1", 53)
    assert not _overlaps(taken, "udp", "127.0.0.2", 53)
