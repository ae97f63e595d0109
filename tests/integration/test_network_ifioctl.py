"""A daemon's bridges through ioctl(2): made, addressed and up as netlink makes them, so a
start without containers needs no pyroute2."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from ketch.network import ifioctl, links

pytestmark = [pytest.mark.integration, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def _link(name: str) -> dict[str, object]:
    out = subprocess.run(["ip", "-j", "-d", "addr", "show", name], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    found: dict[str, object] = json.loads(out)[0]
    return found


def _ipv4(link: dict[str, object]) -> list[tuple[str, int, str]]:
    return [(a["local"], a["prefixlen"], a.get("broadcast", ""))
            for a in link["addr_info"] if a["family"] == "inet"]  # type: ignore[attr-defined]  # fmt: skip


@pytest.fixture
def names() -> Iterator[list[str]]:
    made: list[str] = []
    try:
        yield made
    finally:
        for name in made:
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def test_a_bridge_made_by_ioctl_is_the_one_netlink_makes(names: list[str]) -> None:
    by_ioctl, by_netlink = f"ktio{secrets.token_hex(3)}", f"ktnl{secrets.token_hex(3)}"
    names += [by_ioctl, by_netlink]
    assert ifioctl.ensure_bridge(by_ioctl, IPv4Interface("10.251.7.1/24"), 1450) is True
    assert links._ensure_bridge_netlink(by_netlink, IPv4Interface("10.251.8.1/24"), 1450)
    ours, theirs = _link(by_ioctl), _link(by_netlink)
    for link in (ours, theirs):
        assert link["mtu"] == 1450
        assert "UP" in link["flags"]  # type: ignore[operator]
        assert link["linkinfo"]["info_kind"] == "bridge"  # type: ignore[index]
    assert _ipv4(ours) == [("10.251.7.1", 24, "10.251.7.255")]
    assert _ipv4(theirs) == [("10.251.8.1", 24, "10.251.8.255")]
    routes = subprocess.run(["ip", "route", "show", "dev", by_ioctl], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    assert routes.split() == "10.251.7.0/24 proto kernel scope link src 10.251.7.1".split()


def test_a_bridge_already_right_is_left_and_one_with_another_address_is_refused(
    names: list[str],
) -> None:
    name = f"ktio{secrets.token_hex(3)}"
    names.append(name)
    gateway = IPv4Interface("10.251.9.1/24")
    assert ifioctl.ensure_bridge(name, gateway, 1500) is True
    subprocess.run(["ip", "link", "set", name, "down", "mtu", "1400"], check=True)
    assert ifioctl.ensure_bridge(name, gateway, 1500) is False  # up again, its MTU back
    link = _link(name)
    assert link["mtu"] == 1500 and "UP" in link["flags"]  # type: ignore[operator]
    assert ifioctl.ensure_bridge(name, IPv4Interface("10.251.10.1/24"), 1500) is None
    assert _ipv4(_link(name)) == [("10.251.9.1", 24, "10.251.9.255")]


def test_links_ensure_bridge_takes_netlink_for_a_second_address(names: list[str]) -> None:
    name = f"ktio{secrets.token_hex(3)}"
    names.append(name)
    assert links.ensure_bridge(name, IPv4Interface("10.251.11.1/24"), 1500) is True
    assert links.ensure_bridge(name, IPv4Interface("10.251.12.1/24"), 1500) is False
    assert [a[0] for a in _ipv4(_link(name))] == ["10.251.11.1", "10.251.12.1"]


def test_the_default_route_mtu_is_its_link_s(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "nosuchlink0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "lo\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"
        "lo\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    )
    loopback_mtu = int(Path("/sys/class/net/lo/mtu").read_text())
    assert ifioctl.default_route_mtu(str(table)) == loopback_mtu
    table.write_text("Iface\tDestination\tGateway\n")
    assert ifioctl.default_route_mtu(str(table)) is None


def test_a_start_without_containers_does_not_import_pyroute2(tmp_path: Path) -> None:
    name = f"ktio{secrets.token_hex(3)}"
    code = (
        "import sys\nfrom ipaddress import IPv4Interface\nfrom ketch.network import links\n"
        f"links.ensure_bridge({name!r}, IPv4Interface('10.251.13.1/24'), links.host_mtu())\n"
        "print('pyroute2' in sys.modules)\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, timeout=60).stdout  # fmt: skip
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
    assert out.strip() == "False"
