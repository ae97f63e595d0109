"""The network option parsers and formatters on their own (the docker-parity tests hold
them to the real docker CLI where one is installed; these run everywhere)."""

from __future__ import annotations

import pytest

from ketch.cli import netopts
from ketch.cli.flags import UsageError
from ketch.cli.inspect import go_indent
from ketch.cli.network import go_time_text, ipam_config, string_slice
from ketch.cli.port import port_lines
from ketch.cli.tables import natural_sorted


def test_port_specs_in_docker_forms() -> None:
    exposed, bindings = netopts.parse_ports(
        ["8080:80", "127.0.0.1::53/udp", "9000-9001:90-91", "7000-7005:70", "[::1]:81:81"]
    )
    assert bindings == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "90/tcp": [{"HostIp": "", "HostPort": "9000"}],
        "91/tcp": [{"HostIp": "", "HostPort": "9001"}],
        "70/tcp": [{"HostIp": "", "HostPort": "7000-7005"}],
        "81/tcp": [{"HostIp": "::1", "HostPort": "81"}],
    }
    assert set(exposed) == set(bindings)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1.2.3:80", "invalid hostPort: 1.2.3"),
        ("8080:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8080"),
        ("80/icmp", "invalid proto: icmp"),
        ("70000", "invalid containerPort: 70000"),
        ("300.1.1.1:80:80", "invalid IP address: 300.1.1.1"),
        ("8080:", "no port specified: 8080:<empty>"),
    ],
)
def test_port_specs_refused_with_docker_words(spec: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        netopts.parse_ports([spec])
    assert str(caught.value) == message


def test_expose_ranges_and_errors() -> None:
    exposed: dict[str, dict[str, object]] = {}
    netopts.add_exposed(exposed, ["80", "7000-7001/udp"])
    assert set(exposed) == {"80/tcp", "7000/udp", "7001/udp"}
    with pytest.raises(UsageError, match='parsing "x": invalid syntax'):
        netopts.add_exposed(exposed, ["x"])


def test_validators() -> None:
    assert netopts.check_dns("0:0::1") == "::1"
    assert netopts.check_dns("::ffff:8.8.8.8") == "8.8.8.8"
    assert netopts.check_extra_host("h=[::1]") == "h:::1"
    assert netopts.check_extra_host("gw:host-gateway") == "gw:host-gateway"
    assert netopts.check_dns_search("example.com.") == "example.com"
    assert netopts.is_mac_address("02:42:ac:11:00:02")
    assert netopts.is_mac_address("0242.ac11.0002")
    assert not netopts.is_mac_address("02:42:ac:11:00")
    for check, bad in [
        (netopts.check_dns, "foo"),
        (netopts.check_extra_host, "nohost"),
        (netopts.check_link, "a:b:c"),
        (netopts.check_dns_search, "-x-"),
    ]:
        with pytest.raises(ValueError):
            check(bad)


def test_endpoints_for_user_and_default_networks() -> None:
    flags = netopts.EndpointFlags(["cache"], ["db:old"], "10.0.0.5", "", "", [])
    endpoint = netopts.endpoints_config(["appnet"], flags)["appnet"]
    assert endpoint["Aliases"] == ["cache"] and endpoint["Links"] == ["db:old"]
    assert endpoint["IPAMConfig"] == {"IPv4Address": "10.0.0.5"}
    plain = netopts.EndpointFlags([], [], "", "", "", [])
    assert netopts.endpoints_config(["appnet"], plain) == {}
    assert netopts.endpoints_config([], plain) == {"default": netopts.endpoint_settings()}
    with pytest.raises(UsageError, match="only supported for user-defined networks"):
        netopts.endpoints_config(["bridge"], flags)


def test_ipam_joins_ranges_and_gateways_to_subnets() -> None:
    ipam = ipam_config(["10.9.0.0/24"], ["10.9.0.128/25"], ["10.9.0.1"], {}, "default", {})
    assert ipam["Config"] == [
        {"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25", "Gateway": "10.9.0.1"}
    ]
    assert string_slice(["a,b", "c"]) == ["a", "b", "c"]


def test_natural_order_and_go_layouts() -> None:
    assert natural_sorted(["net10", "net9", "appnet", "net09"]) == [
        "appnet",
        "net9",
        "net09",
        "net10",
    ]
    assert go_time_text("2025-01-01T10:20:30.123400000Z") == "2025-01-01 10:20:30.1234 +0000 UTC"
    assert go_indent('{"a":[],"b":{"c":"x\\u003c, y"},"d":[1,2]}') == (
        '{\n    "a": [],\n    "b": {\n        "c": "x\\u003c, y"\n    },\n'
        '    "d": [\n        1,\n        2\n    ]\n}'
    )


def test_port_lines() -> None:
    ports = {"80/tcp": [{"HostIp": "::", "HostPort": "8080"}], "9/udp": None}
    assert port_lines(ports, "web", None) == ["80/tcp -> [::]:8080"]
    assert port_lines(ports, "web", "80") == ["[::]:8080"]


@pytest.mark.parametrize(
    ("ranges", "gateways", "message"),
    [
        (["10.1.0.0/24", "10.1.0.128/25"], [],
         "cannot configure multiple ranges (10.1.0.128/25, 10.1.0.0/24) on the same subnet "
         "(10.1.0.0/16)"),
        ([], ["10.1.0.1", "10.1.0.2"],
         "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet "
         "(10.1.0.0/16)"),
        (["10.2.0.0/24"], [], "no matching subnet for range 10.2.0.0/24"),
        ([], ["10.2.0.1"], "no matching subnet for gateway 10.2.0.1"),
    ],
)  # fmt: skip
def test_ipam_ranges_and_gateways_join_their_subnet_once(
    ranges: list[str], gateways: list[str], message: str
) -> None:
    from ketch.cli.app import ExitStatus

    subnets = ["10.1.0.0/16", "10.3.0.0/16"]
    with pytest.raises(ExitStatus) as caught:
        ipam_config(subnets, ranges, gateways, {}, "default", {})
    assert caught.value.message == message
    config = ipam_config(subnets, ["10.1.2.0/24"], ["10.3.0.1"], {}, "default", {})["Config"]
    assert config == [{"Subnet": "10.1.0.0/16", "IPRange": "10.1.2.0/24"},
                      {"Subnet": "10.3.0.0/16", "Gateway": "10.3.0.1"}]  # fmt: skip
