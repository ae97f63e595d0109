"""The networks' JSON as dockerd shows it, and its list filters."""

from __future__ import annotations

import pytest

from ketch.api.networks import _matches, network_view
from ketch.errors import InvalidArgument
from ketch.network.model import Endpoint, Network

APPNET = Network(id="a" * 64, name="appnet", driver="bridge", created="2026-01-01T00:00:00Z",
                 subnet="10.89.1.0/24", gateway="10.89.1.1", bridge="kt-aaaaaaaaaaaa",
                 labels={"env": "dev"})  # fmt: skip
BRIDGE = Network(id="b" * 64, name="bridge", driver="bridge", created="", subnet="10.89.0.0/24",
                 gateway="10.89.0.1", bridge="ketch0")  # fmt: skip


def test_a_network_with_its_containers() -> None:
    endpoint = Endpoint(APPNET.id, "appnet", "c" * 64, "e" * 64, "10.89.1.2", 24, "10.89.1.1",
                        "02:42:0a:59:01:02", "veth1", ["web"])  # fmt: skip
    view = network_view(APPNET, [endpoint], {"c" * 64: "web"})
    assert view["IPAM"]["Config"] == [{"Subnet": "10.89.1.0/24", "Gateway": "10.89.1.1"}]
    assert view["Containers"] == {"c" * 64: {
        "Name": "web", "EndpointID": "e" * 64, "MacAddress": "02:42:0a:59:01:02",
        "IPv4Address": "10.89.1.2/24", "IPv6Address": ""}}  # fmt: skip
    assert view["Options"] == {}  # as asked: compose recreates a network whose options differ


@pytest.mark.parametrize(
    ("filters", "network", "in_use", "shown"),
    [
        ({"name": ["app"]}, APPNET, False, True),
        ({"name": ["nope"]}, APPNET, False, False),
        ({"id": ["aaaa"]}, APPNET, False, True),
        ({"driver": ["host"]}, APPNET, False, False),
        ({"type": ["custom"]}, APPNET, False, True),
        ({"type": ["builtin"]}, APPNET, False, False),
        ({"type": ["builtin"]}, BRIDGE, False, True),
        ({"dangling": ["true"]}, APPNET, False, True),
        ({"dangling": ["true"]}, APPNET, True, False),
        ({"dangling": ["true"]}, BRIDGE, False, False),
        ({"label": ["env=dev"]}, APPNET, False, True),
        ({"label": ["env=prod"]}, APPNET, False, False),
        ({"label!": ["env"]}, APPNET, False, False),
    ],
)
def test_list_filters(
    filters: dict[str, list[str]], network: Network, in_use: bool, shown: bool
) -> None:
    assert _matches(network, filters, in_use) is shown


def test_bad_filter_values() -> None:
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=maybe'"):
        _matches(APPNET, {"dangling": ["maybe"]}, False)
    with pytest.raises(InvalidArgument, match="'type'='other'"):
        _matches(APPNET, {"type": ["other"]}, False)


def test_ipam_config_shows_the_range_and_auxiliary_addresses() -> None:
    from dataclasses import replace

    network = replace(APPNET, ip_range="10.89.1.128/25", aux_addresses={"a": "10.89.1.5"})
    assert network_view(network, [], {})["IPAM"]["Config"] == [{
        "Subnet": "10.89.1.0/24", "Gateway": "10.89.1.1", "IPRange": "10.89.1.128/25",
        "AuxiliaryAddresses": {"a": "10.89.1.5"}}]  # fmt: skip


def test_ipam_options_are_shown_as_given_and_null_without_them() -> None:
    from dataclasses import replace

    assert network_view(APPNET, [], {})["IPAM"]["Options"] is None
    network = replace(APPNET, ipam_options={"com.docker.compose.network.test": "9-29-045"})
    assert network_view(network, [], {})["IPAM"]["Options"] == {
        "com.docker.compose.network.test": "9-29-045"}  # fmt: skip
