"""A container's networks, ports and their views, as dockerd reads and shows them."""

from __future__ import annotations

import pytest

from ketch import errors
from ketch.containers import networking
from ketch.containers.etcfiles import hosts_text
from ketch.network.model import Endpoint, EndpointRequest, PortBinding


def endpoint(ports: list[PortBinding]) -> Endpoint:
    return Endpoint("n" * 64, "bridge", "c" * 64, "e" * 64, "10.89.0.2", 24, "10.89.0.1",
                    "02:42:0a:59:00:02", "vethabc", ["web"], ports)  # fmt: skip


def test_the_default_network_is_the_default_bridge_and_others_follow_in_order() -> None:
    plan = networking.plan({}, {}, None)
    assert plan.mode == "bridge" and plan.requests == (EndpointRequest("bridge"),)
    # The docker CLI sends the default network by the name it was given.
    plan = networking.plan({}, {"NetworkMode": "default"}, {"EndpointsConfig": {"default": {}}})
    assert plan.requests == (EndpointRequest("bridge"),)
    plan = networking.plan(
        {}, {"NetworkMode": "appnet"},
        {"EndpointsConfig": {"other": {}, "appnet": {"Aliases": ["db"],
                             "IPAMConfig": {"IPv4Address": "10.1.0.9"}}}},
    )  # fmt: skip
    assert [r.network for r in plan.requests] == ["appnet", "other"]
    assert plan.requests[0].aliases == ("db",) and plan.requests[0].ipv4_address == "10.1.0.9"


@pytest.mark.parametrize(
    ("host_config", "endpoints", "message"),
    [
        ({}, {"bridge": {"Aliases": ["x"]}}, "network-scoped alias is supported only"),
        ({}, {"bridge": {"IPAMConfig": {"IPv4Address": "10.89.0.9"}}}, "user specified IP"),
        ({"NetworkMode": "n"}, {"n": {"IPAMConfig": {"IPv4Address": "300.1.1.1"}}},
         "invalid IPv4 address: 300.1.1.1"),
        ({"NetworkMode": "n"}, {"n": {"MacAddress": "02:42"}}, "invalid MAC address: 02:42"),
        ({"NetworkMode": "host", "PortBindings": {"80/tcp": [{}]}}, {},
         "conflicting options: port publishing and the container type network mode"),
    ],
)  # fmt: skip
def test_what_dockerd_refuses_at_create(
    host_config: dict[str, object], endpoints: dict[str, object], message: str
) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        networking.plan({}, host_config, {"EndpointsConfig": endpoints})


def test_container_mode_joins_another_and_takes_no_hostname() -> None:
    assert networking.plan({}, {"NetworkMode": "container:db"}, None).joins == "db"
    with pytest.raises(errors.InvalidArgument, match="conflicting options: hostname"):
        networking.plan({"Hostname": "x"}, {"NetworkMode": "container:db"}, None)
    # At start the Hostname create filled in is no conflict: the container joins all the same.
    started = networking.plan({"Hostname": "x"}, {"NetworkMode": "container:db"}, None,
                              stored=True)  # fmt: skip
    assert started.mode == "container" and started.joins == "db"


def test_port_bindings_and_publish_all() -> None:
    config = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}, "6379/tcp": {}}}
    host_config = {
        "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"},
                                    {"HostIp": "::", "HostPort": "8080"}],
                         "53/udp": [{"HostPort": ""}]},
        "PublishAllPorts": True,
    }  # fmt: skip
    assert networking.ports_of(config, host_config) == [
        PortBinding(80, "tcp", "127.0.0.1", 8080),
        PortBinding(53, "udp", "", 0),
        PortBinding(6379, "tcp", "", 0),
    ]
    with pytest.raises(errors.InvalidArgument, match="invalid hostPort: x"):
        networking.ports_of({}, {"PortBindings": {"80/tcp": [{"HostPort": "x"}]}})
    with pytest.raises(errors.InvalidArgument, match="invalid containerPort: 0"):
        networking.ports_of({}, {"PortBindings": {"0/tcp": [{}]}})


def test_ports_views_show_published_and_exposed_only_ports() -> None:
    config = {"ExposedPorts": {"80/tcp": {}, "443/tcp": {}}}
    published = [endpoint([PortBinding(80, "tcp", "", 49153)])]
    assert networking.ports_view(config, published) == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}], "443/tcp": None,
    }  # fmt: skip
    assert networking.list_ports(config, published) == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 49153, "Type": "tcp"},
        {"PrivatePort": 443, "Type": "tcp"},
    ]
    assert networking.ports_view(config, []) == {"80/tcp": None, "443/tcp": None}


def test_endpoint_settings_keep_the_request_and_show_addresses_while_running() -> None:
    request = EndpointRequest("appnet", ("db",), "10.1.0.9")
    stopped = networking.endpoint_settings("n" * 64, None, request)
    assert stopped["IPAddress"] == "" and stopped["Aliases"] == ["db"]
    assert stopped["IPAMConfig"] == {"IPv4Address": "10.1.0.9"}
    running = networking.endpoint_settings("n" * 64, endpoint([]), request)
    assert (running["IPAddress"], running["Gateway"], running["IPPrefixLen"]) == (
        "10.89.0.2", "10.89.0.1", 24)  # fmt: skip
    assert running["MacAddress"] == "02:42:0a:59:00:02" and running["DNSNames"] == ["web"]


def test_hosts_file_names_the_container_and_resolves_host_gateway() -> None:
    text = hosts_text("web", ["db:10.1.0.5", "gw:host-gateway"], "10.89.0.2", "10.89.0.1")
    assert text.startswith("127.0.0.1\tlocalhost\n")
    assert text.endswith("10.1.0.5\tdb\n10.89.0.1\tgw\n10.89.0.2\tweb\n")
    assert "gw" not in hosts_text("web", ["gw:host-gateway"])


def test_link_variables_as_dockerd_writes_them() -> None:
    env = networking.link_env("old-db", "/web/old-db", "10.89.0.2", [(6379, "tcp"), (53, "udp")],
                              ["PASSWORD=x", "PATH=/bin", "HOME=/root"])  # fmt: skip
    assert env == [
        "OLD_DB_PORT=tcp://10.89.0.2:6379",
        "OLD_DB_PORT_6379_TCP=tcp://10.89.0.2:6379", "OLD_DB_PORT_6379_TCP_ADDR=10.89.0.2",
        "OLD_DB_PORT_6379_TCP_PORT=6379", "OLD_DB_PORT_6379_TCP_PROTO=tcp",
        "OLD_DB_PORT_53_UDP=udp://10.89.0.2:53", "OLD_DB_PORT_53_UDP_ADDR=10.89.0.2",
        "OLD_DB_PORT_53_UDP_PORT=53", "OLD_DB_PORT_53_UDP_PROTO=udp",
        "OLD_DB_NAME=/web/old-db", "OLD_DB_ENV_PASSWORD=x",
    ]  # fmt: skip
    assert networking.parse_link("db") == ("db", "db")
    assert networking.parse_link("/db:/web/olddb") == ("db", "olddb")


def test_a_kept_networking_config_names_every_network_primary_first() -> None:
    normal = networking.normalise(
        {"MacAddress": "02:42:00:00:00:09"}, {},
        {"EndpointsConfig": {"other": {}, "default": {"Links": ["x"]}}},
    )  # fmt: skip
    assert list(normal["EndpointsConfig"]) == ["bridge", "other"]
    primary = normal["EndpointsConfig"]["bridge"]
    assert primary == {"Links": ["x"], "MacAddress": "02:42:00:00:00:09"}
    # Kept as it is: a container disconnected from everything is on no network.
    assert networking.plan({}, {}, {"EndpointsConfig": {}}, stored=True).requests == ()


def test_config_mac_address_is_the_primary_endpoints_mac_after_a_disconnect_and_connect() -> None:
    # compose: create on n1 with Config.MacAddress, then disconnect n1 and connect it again
    # (its EndpointConfig has no MAC), then start: dockerd still gives n1 that MAC.
    config = {"MacAddress": "74:6F:75:68:6F:75"}
    kept = {"EndpointsConfig": {"n1": {"Aliases": ["web"]}, "n2": {}}}
    plan = networking.plan(config, {"NetworkMode": "n1"}, kept, stored=True)
    assert [(r.network, r.mac_address) for r in plan.requests] == [
        ("n1", "74:6f:75:68:6f:75"), ("n2", "")]  # fmt: skip
    asked = {"EndpointsConfig": {"n1": {"MacAddress": "02:42:00:00:00:07"}}}
    chosen = networking.plan(config, {"NetworkMode": "n1"}, asked, stored=True).requests[0]
    assert chosen.mac_address == "02:42:00:00:00:07"  # the endpoint's own comes first
