"""ketch's CLI against the real docker CLI, both talking to the same recording fake engine.

For the same command line each must send the same request body (the network
parts of it: ports, network mode, endpoints, DNS, hosts), refuse the same
command lines with the same words and status, and print the same text from the
same answers (`network ls`, `port`, `ps` PORTS). Skipped where no docker CLI
is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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


def docker(engine: FakeEngine, *args: str, sent: str = "") -> Outcome:
    with tempfile.TemporaryDirectory() as config:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DOCKER_HOST": engine.host,
            "DOCKER_CONFIG": config,
            "HOME": config,
        }
        before = len(engine.requests)
        result = subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, timeout=60
        )
    bodies = [r.body for r in engine.requests[before:] if sent and r.path == sent]
    return Outcome(result.returncode, result.stdout, result.stderr, bodies)


def ketch(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], *args: str, sent: str = ""
) -> Outcome:
    capsys.readouterr()
    before = len(engine.requests)
    code = run_cli(["-H", engine.host, *args])
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


@pytest.mark.parametrize("argv", REFUSED_LINES, ids=" ".join)
def test_create_refuses_what_docker_refuses(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    theirs = docker(engine, "create", *argv, sent="/containers/create")
    ours = ketch(engine, capsys, "create", *argv, sent="/containers/create")
    assert theirs.code != 0 and not theirs.bodies
    assert (ours.code, ours.err) == (theirs.code, theirs.err.replace("docker", "ketch"))
    assert not ours.bodies
