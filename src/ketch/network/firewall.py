"""ketch's nftables table: NAT out of bridges, isolation between them, published ports.

Everything lives in one table of ketch's own (`ip ketch` by default), so
nothing else on the host changes and removing the table removes all of it.
Its layout:

    prerouting  (nat, dstnat)  fib daddr type local -> ports
    output      (nat, -100)    fib daddr type local -> ports   (the host itself, 127.0.0.1 too)
    ports                      one DNAT rule per published port, commented "p:<endpoint id>"
    postrouting (nat, srcnat)  per bridge: masquerade its subnet out of other links (not for
                               internal ones); 127.0.0.0/8 towards it (as dockerd with the
                               userland proxy off); hairpin (a container to a port published
                               on its own bridge)
    forward     (filter)       -> isolate (drops: between two ketch bridges; in and out of
                               internal ones), then -> allow (to and from bridges)

Per-bridge rules carry the comment "b:<bridge>", so one bridge's or one
endpoint's rules go by listing the table and deleting those rules by handle.
Commands are built by pure functions (tested on their own) and run through
libnftables; each batch is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ketch.network.nft import Nft


@dataclass(frozen=True)
class BridgeRule:
    name: str  # the bridge link
    subnet: str  # CIDR
    internal: bool = False


@dataclass(frozen=True)
class PortRule:
    owner: str  # the endpoint's id: its rules go together
    container_ip: str
    container_port: int
    proto: str  # "tcp" or "udp"
    host_ip: str  # "" or "0.0.0.0": every local address
    host_port: int


def _q(text: str) -> str:
    if '"' in text or "\\" in text:
        raise ValueError(f"not a safe nft string: {text!r}")
    return f'"{text}"'


def bridge_tag(name: str) -> str:
    return f"b:{name}"


def owner_tag(owner: str) -> str:
    return f"p:{owner}"


def table_commands(table: str) -> list[str]:
    t = f"ip {table}"
    return [
        f"add table {t}",
        f"add set {t} bridges {{ type ifname; }}",
        f"add chain {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}",
        f"add chain {t} output {{ type nat hook output priority -100; policy accept; }}",
        f"add chain {t} postrouting"
        " { type nat hook postrouting priority srcnat; policy accept; }",
        f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}",
        f"add chain {t} ports",
        f"add chain {t} isolate",
        f"add chain {t} allow",
        f"add rule {t} prerouting fib daddr type local jump ports",
        f"add rule {t} output fib daddr type local jump ports",
        f"add rule {t} forward jump isolate",
        f"add rule {t} forward jump allow",
    ]


def isolation_commands(table: str) -> list[str]:
    """A table of the bridge family: frames a bridge forwards between two of its ports
    that are both in `isolated` are dropped (networks made with enable_icc=false). The
    ports' own traffic to the host, and what the host routes to them, is not forwarded
    by the bridge, so it passes; frames never cross from one bridge to another."""
    t = f"bridge {table}"
    return [
        f"add table {t}",
        f"add set {t} isolated {{ type ifname; }}",
        f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}",
        f"add rule {t} forward iifname @isolated oifname @isolated drop",
    ]


def bridge_commands(table: str, bridge: BridgeRule) -> list[str]:
    t, b, c = f"ip {table}", _q(bridge.name), f"comment {_q(bridge_tag(bridge.name))}"
    commands = [f"add element {t} bridges {{ {b} }}"]
    if bridge.internal:
        commands += [
            f"add rule {t} isolate iifname {b} oifname != {b} drop {c}",
            f"add rule {t} isolate oifname {b} iifname != {b} drop {c}",
        ]
    else:
        commands += [
            f"add rule {t} isolate iifname {b} oifname != {b} oifname @bridges drop {c}",
            f"add rule {t} postrouting ip saddr {bridge.subnet} oifname != {b} masquerade {c}",
        ]
    commands += [
        f"add rule {t} postrouting oifname {b} ip saddr 127.0.0.0/8 masquerade {c}",
        f"add rule {t} postrouting iifname {b} oifname {b} ct status dnat masquerade {c}",
        f"add rule {t} allow iifname {b} accept {c}",
        f"add rule {t} allow oifname {b} accept {c}",
    ]
    return commands


def port_commands(table: str, rules: Iterable[PortRule]) -> list[str]:
    commands = []
    for rule in rules:
        if rule.proto not in ("tcp", "udp"):
            raise ValueError(f"unsupported protocol {rule.proto!r}")
        match = f"ip daddr {rule.host_ip} " if rule.host_ip not in ("", "0.0.0.0") else ""
        commands.append(
            f"add rule ip {table} ports {match}{rule.proto} dport {rule.host_port} "
            f"dnat to {rule.container_ip}:{rule.container_port} "
            f"comment {_q(owner_tag(rule.owner))}"
        )
    return commands


def rebuild_commands(
    table: str,
    bridges: Sequence[BridgeRule],
    ports: Sequence[PortRule],
    isolated: Sequence[str] = (),
) -> list[str]:
    """The whole table anew, in one transaction: what was there goes at the same instant."""
    commands = [f"add table ip {table}", f"delete table ip {table}", *table_commands(table)]
    commands += [f"add table bridge {table}", f"delete table bridge {table}"]
    commands += isolation_commands(table)
    for bridge in bridges:
        commands += bridge_commands(table, bridge)
    commands += port_commands(table, ports)
    if isolated:
        names = ", ".join(_q(name) for name in isolated)
        commands.append(f"add element bridge {table} isolated {{ {names} }}")
    return commands


class Firewall:
    def __init__(self, table: str = "ketch", nft: Nft | None = None) -> None:
        self.table = table
        self.nft = nft or Nft()

    def exists(self) -> bool:
        tables = self.nft.list_json("list tables ip")
        return any(item.get("table", {}).get("name") == self.table for item in tables)

    def rebuild(
        self, bridges: Sequence[BridgeRule], ports: Sequence[PortRule],
        isolated: Sequence[str] = (),
    ) -> None:  # fmt: skip
        self.nft.run("\n".join(rebuild_commands(self.table, bridges, ports, isolated)))

    def ensure(self) -> None:
        if not self.exists():
            self.nft.run("\n".join(table_commands(self.table) + isolation_commands(self.table)))

    def isolate(self, port: str) -> None:
        """`port` (a container's host veth) joins the ports its bridge forwards nothing
        between."""
        self.nft.run(f"add element bridge {self.table} isolated {{ {_q(port)} }}")

    def release(self, port: str) -> None:
        for item in self.nft.list_json(f"list set bridge {self.table} isolated"):
            if port in item.get("set", {}).get("elem", []):
                self.nft.run(f"delete element bridge {self.table} isolated {{ {_q(port)} }}")

    def add_bridge(self, bridge: BridgeRule) -> None:
        self.nft.run("\n".join(bridge_commands(self.table, bridge)))

    def remove_bridge(self, name: str) -> None:
        extra = [f"delete element ip {self.table} bridges {{ {_q(name)} }}"]
        if not self._in_bridges_set(name):
            extra = []
        self._delete_tagged(bridge_tag(name), extra, chain="")

    def add_ports(self, rules: Sequence[PortRule]) -> None:
        if rules:
            self.nft.run("\n".join(port_commands(self.table, rules)))

    def remove_ports(self, owner: str) -> None:
        self._delete_tagged(owner_tag(owner), [], chain="ports")

    def remove_all(self) -> None:
        """The table and everything in it; nothing when it is not there."""
        self.nft.run(
            f"add table ip {self.table}\ndelete table ip {self.table}\n"
            f"add table bridge {self.table}\ndelete table bridge {self.table}"
        )

    def close(self) -> None:
        self.nft.close()

    def _in_bridges_set(self, name: str) -> bool:
        for item in self.nft.list_json(f"list set ip {self.table} bridges"):
            elements = item.get("set", {}).get("elem", [])
            if name in elements:
                return True
        return False

    def _delete_tagged(self, tag: str, extra: list[str], chain: str) -> None:
        """Delete the rules commented `tag` (in `chain`, or anywhere in the table)."""
        what = f"chain ip {self.table} {chain}" if chain else f"table ip {self.table}"
        commands = []
        for item in self.nft.list_json(f"list {what}"):
            rule = item.get("rule")
            if isinstance(rule, dict) and rule.get("comment") == tag:
                commands.append(
                    f"delete rule ip {self.table} {rule['chain']} handle {rule['handle']}"
                )
        commands += extra
        if commands:
            self.nft.run("\n".join(commands))
