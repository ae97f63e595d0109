"""ketch's CLI against the real docker CLI, both talking to the same recording fake engine.

For the same command line each must send the same request body (the network
parts of it: ports, network mode, endpoints, DNS, hosts), refuse the same
command lines with the same words and status, and print the same text from the
same answers (`network ls`, `port`, `ps` PORTS). Skipped where no docker CLI
is installed.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from ketch.cli.main import run_cli
from ketch.testing.fakeengine import FakeEngine

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")

CONTAINER_ID = "c" * 64
NETWORK_ID = "4e1b6c8d2a0f" + "9" * 52


class Outcome:
    def __init__(self, code: int, out: str, err: str, bodies: list[Any]) -> None:
        self.code = code
        self.out = out
        self.err = err
        self.bodies = bodies


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with FakeEngine() as fake:
        fake.answer("POST", "/containers/create", {"Id": CONTAINER_ID, "Warnings": []}, 201)
        fake.answer("POST", "/networks/create", {"Id": NETWORK_ID, "Warning": ""}, 201)
        yield fake


def docker(engine: FakeEngine, *args: str, sent: str = "", stdin: str = "") -> Outcome:
    with tempfile.TemporaryDirectory() as config:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DOCKER_HOST": engine.host,
            "DOCKER_CONFIG": config,
            "HOME": config,
        }
        before = len(engine.requests)
        result = subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, timeout=60, input=stdin
        )
    bodies = [r.body for r in engine.requests[before:] if sent and r.path == sent]
    return Outcome(result.returncode, result.stdout, result.stderr, bodies)


def ketch(
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    sent: str = "",
    stdin: str = "",
) -> Outcome:
    capsys.readouterr()
    before = len(engine.requests)
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = run_cli(["-H", engine.host, *args])
    finally:
        sys.stdin = saved
    captured = capsys.readouterr()
    bodies = [r.body for r in engine.requests[before:] if sent and r.path == sent]
    return Outcome(code, captured.out, captured.err, bodies)


def network_parts(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a create body that networking options decide."""
    host = body["HostConfig"]
    return {
        "ExposedPorts": body.get("ExposedPorts"),  # docker omits it when empty
        "Hostname": body["Hostname"],
        "MacAddress": body.get("MacAddress"),  # dropped by API >= 1.44 clients
        "HostConfig": {
            key: host.get(key, "<absent>")
            for key in (
                "PortBindings",
                "PublishAllPorts",
                "NetworkMode",
                "Links",
                "Dns",
                "DnsSearch",
                "DnsOptions",
                "ExtraHosts",
            )
        },
        "NetworkingConfig": body["NetworkingConfig"],
    }


CREATE_LINES = [
    ["busybox"],
    ["-p", "8080:80", "busybox"],
    ["-p", "127.0.0.1:8080:80", "busybox"],
    ["-p", "127.0.0.1::80", "busybox"],
    ["-p", "80", "-p", "53/udp", "-p", "70/sctp", "busybox"],
    ["-p", "8080-8081:80-81", "busybox"],
    ["-p", "9000-9005:90", "busybox"],
    ["-p", "127.0.0.1::80/udp", "-p", "8080:80/TCP", "-p", "8081:80", "busybox"],
    ["-p", "[::1]:8080:80", "-p", "::1:8081:81", "busybox"],
    ["-p", "published=8080,target=80", "-p", "target=53,protocol=udp", "busybox"],
    ["-p", "0.0.0.0:10-12:10-12/udp", "-P", "busybox"],
    ["-P", "--expose", "80", "--expose", "7000-7002/udp", "busybox"],
    ["--expose", "80", "-p", "80", "busybox"],
    ["--network", "appnet", "busybox"],
    ["--net", "appnet", "--network-alias", "cache", "--net-alias", "db", "busybox"],
    ["--network", "appnet", "--ip", "10.0.0.5", "--ip6", "fd00::5", "busybox"],
    ["--network", "appnet", "--mac-address", "02:42:ac:11:00:02", "busybox"],
    ["--mac-address", "02-42-AC-11-00-02", "busybox"],
    ["--network", "appnet", "--link", "db:olddb", "--link", "web", "busybox"],
    ["--link", "db:olddb", "busybox"],
    ["--network", "bridge", "--ip", "172.17.0.9", "busybox"],
    ["--network", "none", "busybox"],
    ["--network", "host", "busybox"],
    ["--network", "container:db", "busybox"],
    ["--network", "a", "--network", "b", "busybox"],
    ["--network", "name=appnet,alias=web,alias=www,ip=10.0.0.9", "busybox"],
    ["--network", "name=AppNet,driver-opt=k=v,gw-priority=3", "--network", "b", "busybox"],
    ["--network", "appnet", "--link-local-ip", "169.254.1.1", "busybox"],
    ["--dns", "1.1.1.1", "--dns", "0:0::1", "--dns", "::ffff:8.8.8.8", "busybox"],
    ["--dns", "127.0.0.53", "busybox"],
    ["--dns-search", "example.com.", "--dns-search", ".", "busybox"],
    ["--dns-option", "ndots:2", "--dns-opt", "timeout:1", "busybox"],
    ["--add-host", "h:1.2.3.4", "--add-host", "gw:host-gateway", "busybox"],
    ["--add-host", "v6=[::1]", "--add-host", "v6b:fe80::1", "busybox"],
    ["-h", "myhost", "--hostname", "other", "busybox"],
]


@pytest.mark.parametrize("argv", CREATE_LINES, ids=" ".join)
def test_create_sends_what_docker_sends(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    theirs = docker(engine, "create", *argv, sent="/containers/create")
    ours = ketch(engine, capsys, "create", *argv, sent="/containers/create")
    assert theirs.code == 0 and "Error" not in theirs.err
    assert (ours.code, ours.err) == (0, theirs.err)  # warnings (localhost DNS) included
    assert len(theirs.bodies) == len(ours.bodies) == 1
    assert network_parts(ours.bodies[0]) == network_parts(theirs.bodies[0])


REFUSED_LINES = [
    ["-p", "1.2.3:80", "busybox"],
    ["-p", "abc", "busybox"],
    ["-p", "8080:", "busybox"],
    ["-p", "70000", "busybox"],
    ["-p", "8080-8082:80-81", "busybox"],
    ["-p", "8080:80-81", "busybox"],
    ["-p", "80/icmp", "busybox"],
    ["-p", "90-80", "busybox"],
    ["-p", "published=80,target", "busybox"],
    ["--expose", "80:80", "busybox"],
    ["--mount", "", "busybox"],
    ["--mount", "source=data", "busybox"],
    ["--mount", "type=,target=/x", "busybox"],
    ["--mount", "type=bind,src=/tmp,dst=/t,bind-create-src", "busybox"],
    ["--mount", "type=volume,target=/x,foo=bar", "busybox"],
    ["--mount", "type=volume,src=data,dst=/d,volume-nocopy=yes", "busybox"],
    ["--mount", "type=volume,src=data,dst=/d,readonly=maybe", "busybox"],
    ["--mount", "type=bind,src=/t,dst=/t,bind-nonrecursive=maybe", "busybox"],
    ["--mount", "type=bind,src=/t,dst=/t,bind-recursive=sometimes", "busybox"],
    ["--mount", "type=bind,src=/t,dst=/t,bind-recursive=writable", "busybox"],
    ["--mount", "type=bind,src=/t,dst=/t,ro,bind-recursive=readonly", "busybox"],
    ["--mount", "type=tmpfs,target=/x,tmpfs-size=lots", "busybox"],
    ["--mount", "type=tmpfs,target=/x,tmpfs-mode=9", "busybox"],
    ["--mount", "type=volume,source=data,target=/d,bind-propagation=shared", "busybox"],
    ["--mount", "type=bind,source=/t,target=/d,volume-subpath=x", "busybox"],
    ["--mount", "type=volume,source=data,target=/d,tmpfs-size=1m", "busybox"],
    ["--mount", "type=volume,source=data,target=/d,image-subpath=x", "busybox"],
    ["--expose", "x", "busybox"],
    ["--expose", "70000/udp", "busybox"],
    ["--dns", "foo", "busybox"],
    ["--dns-search", "-bad-", "busybox"],
    ["--add-host", "foo", "busybox"],
    ["--add-host", "foo:1.2.3", "busybox"],
    ["--link", "a:b:c", "busybox"],
    ["--mac-address", "zz", "busybox"],
    ["--network", "appnet", "--network", "appnet", "busybox"],
    ["--network", "appnet", "--network", "host", "busybox"],
    ["--network-alias", "x", "busybox"],
    ["--network", "bridge", "--network-alias", "x", "busybox"],
    ["--network", "name=a,alias=x", "--network-alias", "y", "busybox"],
    ["--network", "name=a,bogus=1", "busybox"],
    ["--network", "alias=x", "busybox"],
    ["--network", "name=a,mac-address=zz", "busybox"],
]


def volume_parts(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a create body that -v, --mount, --volumes-from, --volume-driver decide
    (docker's Binds come from a map, so in no set order)."""
    host = body["HostConfig"]
    return {
        "Volumes": body.get("Volumes", "<absent>"),
        "Binds": sorted(host.get("Binds") or []),
        "HostConfig": {
            key: host.get(key, "<absent>") for key in ("Mounts", "VolumesFrom", "VolumeDriver")
        },
    }


VOLUME_LINES = [
    ["busybox"],
    ["-v", "data:/d:ro", "-v", "/anon", "-v", "/tmp:/t:rw,z", "busybox"],
    ["--volume-driver", "local", "-v", "data:/d", "busybox"],
    ["--volumes-from", "a", "--volumes-from", "b:ro", "busybox"],
    ["--mount", "type=volume,source=data,target=/d", "busybox"],
    ["--mount", "target=/anon", "--mount", "type=volume,target=/d,readonly=false", "busybox"],
    ["--mount", "type=volume,src=data,dst=/d,readonly,volume-nocopy,volume-subpath=sub,"
     "volume-label=a=b,volume-driver=local,volume-opt=type=tmpfs,volume-opt=o=size=1m", "busybox"],
    ["--mount", "type=volume,src=data,destination=/d,volume-subpath=sub", "busybox"],
    ["--mount", "type=volume,src=data,dst=/d,volume-nocopy=false", "busybox"],
    ["--mount", "type=bind,source=/tmp,target=/t,bind-propagation=rshared,ro=true", "busybox"],
    ["--mount", "type=bind,src=/tmp,dst=/t,readonly,bind-nonrecursive", "busybox"],
    ["--mount", "type=bind,src=/tmp,dst=/t,bind-recursive=disabled", "busybox"],
    ["--mount", "type=bind,src=/tmp,dst=/t,ro,bind-recursive=writable", "busybox"],
    ["--mount", "Type=BIND,src=/tmp,dst=/t,ro,bind-recursive=readonly,bind-propagation=rprivate",
     "busybox"],
    ["--mount", "type=tmpfs,target=/x,tmpfs-size=1m,tmpfs-mode=1770", "busybox"],
    ["--mount", "type=image,source=busybox,target=/img,image-subpath=/bin", "busybox"],
    ["--mount", "type=volume,src=data,dst=/d,consistency=Cached", "busybox"],
    ["--mount", '"type=volume,src=a,b",target=/d', "busybox"],
]  # fmt: skip


@pytest.mark.parametrize("argv", VOLUME_LINES, ids=" ".join)
def test_create_sends_docker_volume_options(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    theirs = docker(engine, "create", *argv, sent="/containers/create")
    ours = ketch(engine, capsys, "create", *argv, sent="/containers/create")
    assert theirs.code == 0, theirs.err
    assert (ours.code, ours.err) == (0, theirs.err)
    assert volume_parts(ours.bodies[0]) == volume_parts(theirs.bodies[0])


@pytest.mark.parametrize("argv", REFUSED_LINES, ids=" ".join)
def test_create_refuses_what_docker_refuses(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    theirs = docker(engine, "create", *argv, sent="/containers/create")
    ours = ketch(engine, capsys, "create", *argv, sent="/containers/create")
    assert theirs.code != 0 and not theirs.bodies
    assert (ours.code, ours.err) == (theirs.code, theirs.err.replace("docker", "ketch"))
    assert not ours.bodies


# -- network commands, port, ps: the same answers must print the same text --------------------


def _network(name: str, identifier: str, **fields: Any) -> dict[str, Any]:
    network = {
        "Name": name,
        "Id": identifier,
        "Created": "2025-01-01T10:20:30.123400000Z",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv4": True,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.9.0.0/24"}]},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": {},
        "Labels": {"tier": "<db>"},
    }
    network.update(fields)
    return network


PORTS_MAP = {
    "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
    "81/tcp": None,
    "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}],
    "9/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9"}],
    "100/tcp": [],
}


def _port(private: int, kind: str = "tcp", ip: str = "", public: int = 0) -> dict[str, Any]:
    port: dict[str, Any] = {"PrivatePort": private, "Type": kind}
    if ip:
        port.update(IP=ip, PublicPort=public)
    return port


PS_PORTS = [
    [_port(80, ip="0.0.0.0", public=8080), _port(80, ip="::", public=8080)],
    [_port(80, ip="0.0.0.0", public=8080), _port(81, ip="0.0.0.0", public=8081)],
    [_port(80, ip="0.0.0.0", public=80), _port(81, ip="0.0.0.0", public=81)],
    [_port(90), _port(91), _port(93), _port(53, "udp"), _port(92, "udp")],
    [
        _port(7000, ip="0.0.0.0", public=7000),
        _port(7001, ip="0.0.0.0", public=7001),
        _port(7000, ip="::", public=7000),
        _port(7003, ip="0.0.0.0", public=7003),
        _port(6000, ip="127.0.0.1", public=32768),
        _port(6000, "udp", ip="127.0.0.1", public=32768),
    ],
    [],
]


@pytest.fixture
def answering(engine: FakeEngine) -> FakeEngine:
    networks = [
        _network("appnet", "4e1b6c8d2a0f" + "9" * 52),
        _network("bridge", "1" * 64, Labels={}),
        _network("host", "2" * 64, Driver="host", Created="2024-02-03T04:05:06+02:00"),
        _network("net10", "3" * 64, Internal=True, EnableIPv6=True),
        _network("net9", "5" * 64, Labels=None),
    ]
    engine.answer("GET", "/networks", networks)
    engine.answer("GET", "/networks/appnet", networks[0])
    engine.answer("GET", "/networks/missing", {"message": "network missing not found"}, 404)
    engine.answer("DELETE", "/networks/(appnet|net9)", None, 204)
    engine.answer("DELETE", "/networks/missing", {"message": "network missing not found"}, 404)
    engine.answer(
        "DELETE",
        "/networks/busy",
        {"message": "error while removing network: network busy has active endpoints"},
        403,
    )
    engine.answer("POST", "/networks/prune", {"NetworksDeleted": ["n1", "n2"]})
    engine.answer("POST", "/networks/appnet/(connect|disconnect)", None, 200)
    engine.answer(
        "POST", "/networks/missing/connect", {"message": "network missing not found"}, 404
    )
    container = {"Id": CONTAINER_ID, "Name": "/web", "NetworkSettings": {"Ports": PORTS_MAP}}
    engine.answer("GET", "/containers/web/json", container)
    engine.answer("GET", "/containers/bare/json", {"Id": CONTAINER_ID, "NetworkSettings": {}})
    engine.answer("GET", "/containers/missing/json", {"message": "No such container: missing"}, 404)
    listed = [
        {
            "Id": f"{index:x}" * 64,
            "Names": [f"/c{index}"],
            "Image": "busybox",
            "Command": "sh",
            "Created": 1700000000,
            "Ports": ports,
            "Labels": {},
            "State": "running",
            "Status": "Up 2 minutes",
            "NetworkSettings": {"Networks": {}},
            "Mounts": [],
        }
        for index, ports in enumerate(PS_PORTS, start=1)
    ]
    engine.answer("GET", "/containers/json", listed)
    return engine


OUTPUT_LINES = [
    ["network", "ls"],
    ["network", "list", "--no-trunc"],
    ["network", "ls", "-q"],
    ["network", "ls", "-q", "--no-trunc"],
    ["network", "ls", "--format", "{{.Name}} {{.Labels}} {{.IPv4}} {{.IPv6}} {{.Internal}}"],
    ["network", "ls", "--format", "{{.Name}}: {{.CreatedAt}}"],
    ["network", "ls", "--format", "table {{.Name}}\\t{{.Internal}}\\t{{.Driver}}"],
    ["network", "ls", "--format", "json"],
    ["network", "ls", "--format", "raw"],
    ["network", "ls", "-f", "driver=bridge"],
    ["network", "ls", "extra"],
    ["network", "inspect", "appnet"],
    ["network", "inspect", "appnet", "missing", "--format", "{{.Name}} {{.Driver}}"],
    ["network", "inspect", "missing"],
    ["network", "inspect"],
    ["network", "rm", "appnet", "missing", "busy", "net9"],
    ["network", "rm", "-f", "missing"],
    ["network", "remove", "appnet"],
    ["network", "prune", "-f"],
    ["network", "prune", "--force", "--filter", "until=1h"],
    ["network", "connect", "appnet", "web"],
    ["network", "connect", "--alias", "a", "--alias", "b,c", "--ip", "10.9.0.5", "appnet", "web"],
    [
        "network",
        "connect",
        "--ip6",
        "fd00::5",
        "--link",
        "db:d",
        "--link-local-ip",
        "169.254.0.9",
        "--driver-opt",
        "k=v",
        "--gw-priority",
        "2",
        "appnet",
        "web",
    ],
    ["network", "connect", "missing", "web"],
    ["network", "connect", "--link", "a:b:c", "appnet", "web"],
    ["network", "connect", "appnet"],
    ["network", "disconnect", "appnet", "web"],
    ["network", "disconnect", "-f", "appnet", "web"],
    ["network", "create", "appnet"],
    [
        "network",
        "create",
        "--subnet",
        "10.9.0.0/24",
        "--gateway",
        "10.9.0.1",
        "--ip-range",
        "10.9.0.128/25",
        "--internal",
        "--attachable",
        "--label",
        "a=b",
        "-o",
        "com.x=y",
        "appnet",
    ],
    [
        "network",
        "create",
        "-d",
        "bridge",
        "--ipv6",
        "--ipv4=false",
        "--subnet",
        "fd00:1::/64",
        "--aux-address",
        "r=fd00:1::9",
        "--ipam-opt",
        "x=1",
        "--scope",
        "local",
        "appnet",
    ],
    ["network", "create", "--gateway", "10.0.0.1", "appnet"],
    ["network", "create", "--subnet", "10.9.0.0/24", "--gateway", "10.8.0.1", "appnet"],
    ["network", "create", "--subnet", "10.9.0.0/16", "--subnet", "10.9.1.0/24", "appnet"],
    ["network", "create", "--subnet", "10.9.0.0", "appnet"],
    ["network", "create", "--label", " =x", "appnet"],
    ["network", "create"],
    ["network", "bogus"],
    ["port", "web"],
    ["port", "web", "80"],
    ["port", "web", "53/udp"],
    ["port", "web", "81"],
    ["port", "web", "100"],
    ["port", "web", "abc"],
    ["port", "web", "70000"],
    ["port", "web", "80/tcp/x"],
    ["port", "bare"],
    ["port", "missing"],
    ["port"],
    ["container", "port", "web", "9"],
    ["ps", "--format", "{{.Ports}}"],
    ["ps"],
]


@pytest.mark.parametrize("argv", OUTPUT_LINES, ids=" ".join)
def test_prints_what_docker_prints(
    answering: FakeEngine, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    posted = "/networks/.*" if argv[0] == "network" else ""
    theirs = docker(answering, *argv)
    theirs_sent = [(r.method, r.path, r.body) for r in answering.requests if r.method != "HEAD"]
    answering.requests.clear()
    ours = ketch(answering, capsys, *argv)
    ours_sent = [(r.method, r.path, r.body) for r in answering.requests]
    assert (ours.code, ours.out, ours.err) == (
        theirs.code,
        theirs.out,
        theirs.err.replace("docker", "ketch").replace("Docker", "ketch"),
    )
    if posted:
        # docker looks a network up before removing it (for swarm's ingress); ketch does not.
        assert [r for r in ours_sent if r[0] != "GET"] == [r for r in theirs_sent if r[0] != "GET"]


@pytest.mark.parametrize("answer", ["y\n", "Y\n", "n\n", ""])
def test_prune_asks_as_docker_asks(
    answering: FakeEngine, capsys: pytest.CaptureFixture[str], answer: str
) -> None:
    theirs = docker(answering, "network", "prune", stdin=answer)
    ours = ketch(answering, capsys, "network", "prune", stdin=answer)
    assert (ours.code, ours.out, ours.err) == (theirs.code, theirs.out, theirs.err)
    pruned = answering.sent("POST", "/networks/prune")
    assert len(pruned) == (2 if answer.strip().lower() == "y" else 0)
