"""Container networking end to end: the real docker CLI and the Docker SDK against ketchd.

User networks with DNS and isolation, published ports (TCP and UDP, from
127.0.0.1 and from a namespace the test makes to act as another host), -P,
port conflicts, --network none/host/container:, links, --internal. Every test
removes what it made and then finds the host's links, addresses, routes and
firewall rules as they were (ketchd's own bridge aside). Only 127.0.0.0/8 and
addresses in namespaces and bridges the tests made are contacted: no container
asks its DNS for a name it does not have (that would go to the host's resolvers).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

from ketch.testing import netlab
from ketch.testing.commands import DOCKER, ketch
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import RegistryServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

BUSYBOX = "busybox"
PAGE = "served-by-busybox"
HTTPD = f"mkdir -p /www && echo {PAGE} > /www/index.html && exec httpd -f -p 80 -h /www"
# A UDP echo server on the host's python, bound in read-only (busybox's nc has no UDP).
UDP_ECHO = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',int(sys.argv[1])))\n"
    "while True:\n"
    "    d,a=s.recvfrom(2048);s.sendto(b'echo '+d,a)\n"
)
HOST_PYTHON = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro"]
# Bridges of user networks the tests made (their names are ketch's): leaks of these count.
MADE_BRIDGES: set[str] = set()


# -- the host's state, as far as these tests can change it ---------------------------------


def _link_names(link_text: str) -> dict[str, str]:
    """Each link's name and its master ("" when none)."""
    masters = {}
    for line in link_text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name = fields[1].rstrip(":").split("@")[0]
        master = fields[fields.index("master") + 1] if "master" in fields else ""
        masters[name] = master
    return masters


def _line_link(kind: str, line: str) -> str:
    fields = line.split()
    if kind in ("link", "addr"):
        return fields[1].rstrip(":").split("@")[0] if len(fields) > 1 else ""
    return fields[fields.index("dev") + 1] if "dev" in fields else ""


def _nft_tables(ruleset: str) -> dict[str, str]:
    tables: dict[str, str] = {}
    current = ""
    for line in ruleset.splitlines():
        if line.startswith("table "):
            current = line.split()[2]
            tables[current] = ""
        if current:
            tables[current] += line + "\n"
        if line == "}":
            current = ""
    return tables


def own_view(state: dict[str, str], ketchd: Daemon) -> dict[str, str]:
    """The host state minus what other ketch test runs on this machine make meanwhile (their
    bridges, their containers' veths, their tables) and minus ketchd's own bridge, whose
    carrier and IPv6 link-local address come and go with its containers."""
    masters = _link_names(state["link"])

    def foreign(name: str) -> bool:
        if name in MADE_BRIDGES or name == ketchd.bridge:
            return False
        if name.startswith(("ktb", "kt-", "kto")):
            return True
        master = masters.get(name, "")
        return bool(master) and foreign(master)

    view = {}
    for kind in ("link", "addr", "route"):
        kept = []
        for line in state[kind].splitlines():
            name = _line_link(kind, line)
            if foreign(name) or (name == ketchd.bridge and kind != "route"):
                continue
            kept.append(line.replace(" linkdown", "") if name == ketchd.bridge else line)
        view[kind] = "\n".join(kept)
    tables = _nft_tables(state["nft"])
    view["nft"] = "".join(
        text for name, text in sorted(tables.items())
        if name == ketchd.firewall_table or not name.startswith(("ketch", "kt_"))
    )  # fmt: skip
    return view


def assert_host_as_before(before: dict[str, str], ketchd: Daemon) -> None:
    # The kernel removes a container's veth when its namespace goes: give it a moment.
    after = own_view(netlab.host_state(), ketchd)
    for _ in range(60):
        if after == before:
            return
        time.sleep(0.1)
        after = own_view(netlab.host_state(), ketchd)
    for kind in before:
        assert after[kind] == before[kind], kind


@pytest.fixture(scope="module")
def module_host_state(ketchd: Daemon) -> dict[str, str]:
    return own_view(netlab.host_state(), ketchd)


@pytest.fixture
def host_unchanged(ketchd: Daemon, module_host_state: dict[str, str]) -> Iterator[None]:
    before = own_view(netlab.host_state(), ketchd)
    yield
    assert_host_as_before(before, ketchd)


# -- what a test makes, removed in its teardown ---------------------------------------------


@dataclass
class Made:
    env: dict[str, str]
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        done = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {done.returncode}\n{done.stderr}")
        return done.stdout

    def attempt(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    def run(self, *args: str) -> str:
        """`docker run -d`; the container's id."""
        name = _name("c")
        self.containers.append(name)
        return self.docker("run", "-d", "--name", name, *args).strip()

    def network(self, *options: str) -> str:
        name = _name("net")
        self.networks.append(name)
        network_id = self.docker("network", "create", *options, name).strip()
        MADE_BRIDGES.add(f"kt-{network_id[:12]}")
        return name

    def exec(self, container: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.attempt("exec", container, *argv)

    def inspect(self, container: str) -> dict:
        return json.loads(self.docker("inspect", container))[0]

    def ip(self, container: str, network: str) -> str:
        return str(self.inspect(container)["NetworkSettings"]["Networks"][network]["IPAddress"])

    def remove_all(self) -> None:
        if self.containers:
            self.attempt("rm", "-f", *self.containers)
        for network in reversed(self.networks):
            self.attempt("network", "rm", network)


def _name(prefix: str) -> str:
    return f"e2e-{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def pulled(ketchd: Daemon) -> None:
    sdk = docker.DockerClient(base_url=ketchd.url, version="1.45", timeout=120)
    try:
        for name in ("busybox", "redis"):
            sdk.images.pull(name, tag="latest")
    finally:
        sdk.close()


@pytest.fixture
def made(docker_env: dict[str, str], pulled: None, host_unchanged: None) -> Iterator[Made]:
    made = Made(docker_env)
    try:
        yield made
    finally:
        made.remove_all()


# -- reaching containers ---------------------------------------------------------------------


def fetch(url: str, timeout: float = 10.0) -> str:
    """The page at url, retried while the server in the container starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode().strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


_FETCH = "import sys,urllib.request as u;print(u.urlopen(sys.argv[1],timeout=2).read().decode())"


def fetch_from(ns: netlab.Netns, url: str, timeout: float = 10.0) -> str:
    """The page at url as another host sees it ("" if it never answered)."""
    deadline = time.monotonic() + timeout
    while True:
        done = ns.exec(sys.executable, "-c", _FETCH, url, check=False)
        if done.returncode == 0 or time.monotonic() > deadline:
            return done.stdout.strip()
        time.sleep(0.2)


def ask_udp(host: str, port: int, ns: netlab.Netns | None = None, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        answer = netlab.ask("udp", host, port, ns=ns, timeout=1)
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def port_of(made: Made, container: str, spec: str) -> dict[str, int]:
    """`docker port <c> <spec>`: host address -> host port."""
    found = {}
    for line in made.docker("port", container, spec).split():
        address, _, port = line.rpartition(":")
        found[address] = int(port)
    return found


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def private_slash30() -> tuple[str, str]:
    """Two addresses of a 10.x.y.0/30 no route or address of the host overlaps."""
    text = netlab.run("ip", "route").stdout + netlab.run("ip", "-o", "-4", "addr").stdout
    used = [ipaddress.ip_network(m, strict=False)
            for m in re.findall(r"\b\d+\.\d+\.\d+\.\d+/\d+\b", text)]  # fmt: skip
    for _ in range(100):
        net = ipaddress.ip_network(f"10.{random.randint(200, 254)}.{random.randint(0, 255)}.0/30")
        if not any(net.overlaps(u) for u in used):
            hosts = list(net.hosts())
            return str(hosts[0]), str(hosts[1])
    raise RuntimeError("no free /30 in 10.200.0.0/13")


@pytest.fixture
def other_host() -> Iterator[tuple[netlab.Netns, str]]:
    """A namespace acting as another host, and this host's address on the link to it."""
    host_address, peer_address = private_slash30()
    with netlab.outside_host(host_address, peer_address) as ns:
        yield ns, host_address


# -- user networks ---------------------------------------------------------------------------


def test_names_and_aliases_resolve_on_a_user_network_and_not_from_another(made: Made) -> None:
    one, two = made.network(), made.network()
    a = made.run("--network", one, BUSYBOX, "sleep", "600")
    b = made.run("--network", one, "--network-alias", "cache", BUSYBOX, "sleep", "600")
    stranger = made.run("--network", two, BUSYBOX, "sleep", "600")
    b_name = made.inspect(b)["Name"].lstrip("/")
    b_ip = made.ip(b, one)

    pinged = made.exec(a, "ping", "-c1", "-W2", b_name)
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    assert b_ip in pinged.stdout
    looked_up = made.exec(a, "nslookup", "cache")
    assert looked_up.returncode == 0, looked_up.stdout + looked_up.stderr
    assert b_ip in looked_up.stdout
    assert made.exec(b, "ping", "-c1", "-W2", made.inspect(a)["Name"].lstrip("/")).returncode == 0

    # Network one's DNS does not answer the other network's containers. (Asking network
    # two's own DNS would forward the miss to the host's resolvers, out of bounds here.)
    one_dns = made.inspect(b)["NetworkSettings"]["Networks"][one]["Gateway"]
    for name in (b_name, "cache"):
        assert made.exec(a, "nslookup", name, one_dns).returncode == 0
        assert made.exec(stranger, "nslookup", name, one_dns).returncode != 0
    assert made.exec(stranger, "ping", "-c1", "-W2", b_ip).returncode != 0
    # The address is right: the same ping from the host (which reaches every bridge) answers.
    assert netlab.run("busybox", "ping", "-c1", "-W2", b_ip, check=False).returncode == 0


def test_dns_on_a_user_network_forwards_to_the_containers_own_resolvers(made: Made) -> None:
    """--dns on a user network: resolv.conf still names the network's DNS (so container
    names resolve), and what it does not know goes to the container's --dns servers. The
    resolver here is the test's own, on a loopback address (the DNS forwards from the host)."""
    import random

    from ketch.network import dnswire

    resolver = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.53"
    asked: list[str] = []
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((resolver, 53))
    server.settimeout(0.2)
    stop = False

    def answer() -> None:
        while not stop:
            try:
                data, peer = server.recvfrom(512)
            except TimeoutError:
                continue
            query = dnswire.parse_query(data)
            asked.append(query.name)
            server.sendto(dnswire.reply(query, dnswire.NOERROR, ["192.0.2.77"], 60), peer)

    import threading

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        network = made.network()
        peer = made.run("--network", network, BUSYBOX, "sleep", "600")
        box = made.run("--network", network, "--dns", resolver, BUSYBOX, "sleep", "600")
        gateway = made.inspect(box)["NetworkSettings"]["Networks"][network]["Gateway"]
        resolv = made.exec(box, "cat", "/etc/resolv.conf").stdout
        assert f"nameserver {gateway}" in resolv
        found = made.exec(box, "nslookup", "ketch-test.invalid")
        assert "192.0.2.77" in found.stdout, found.stdout + found.stderr
        assert "ketch-test.invalid" in asked
        named = made.exec(box, "nslookup", made.inspect(peer)["Name"].lstrip("/"))
        assert made.ip(peer, network) in named.stdout  # the network's names still answer
    finally:
        stop = True
        thread.join(timeout=2)
        server.close()


def test_an_internal_network_has_no_way_out_but_its_containers_reach_each_other(
    made: Made,
) -> None:
    closed = made.network("--internal")
    a = made.run("--network", closed, BUSYBOX, "sleep", "600")
    b = made.run("--network", closed, BUSYBOX, "sleep", "600")
    routes = made.exec(a, "ip", "route").stdout
    assert "default" not in routes and made.ip(a, closed).rsplit(".", 1)[0] in routes
    b_name = made.inspect(b)["Name"].lstrip("/")
    pinged = made.exec(a, "ping", "-c1", "-W2", b_name)
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    assert made.ip(b, closed) in pinged.stdout


# -- published ports ---------------------------------------------------------------------------


def test_a_published_tcp_port_answers_from_localhost_and_from_another_host(
    made: Made, other_host: tuple[netlab.Netns, str]
) -> None:
    outside, host_address = other_host
    web = made.run("-p", "127.0.0.1::80", "-p", "80", BUSYBOX, "sh", "-c", HTTPD)
    ports = port_of(made, web, "80/tcp")
    assert set(ports) == {"127.0.0.1", "0.0.0.0"}
    assert fetch(f"http://127.0.0.1:{ports['127.0.0.1']}/index.html") == PAGE
    assert fetch(f"http://127.0.0.1:{ports['0.0.0.0']}/index.html") == PAGE
    # Another host reaches the port published on every address, not the loopback-only one.
    assert fetch_from(outside, f"http://{host_address}:{ports['0.0.0.0']}/index.html") == PAGE
    assert fetch_from(outside, f"http://{host_address}:{ports['127.0.0.1']}/", 1) == ""
    listed = made.docker("ps", "--filter", f"id={web}", "--format", "{{.Ports}}").strip()
    assert f"127.0.0.1:{ports['127.0.0.1']}->80/tcp" in listed
    assert f"0.0.0.0:{ports['0.0.0.0']}->80/tcp" in listed


def test_a_published_udp_port_answers_from_localhost_and_from_another_host(
    made: Made, other_host: tuple[netlab.Netns, str]
) -> None:
    outside, host_address = other_host
    echo = made.run("-p", "9000/udp", *HOST_PYTHON, BUSYBOX, "/usr/bin/python3", "-c",
                    UDP_ECHO, "9000")  # fmt: skip
    port = port_of(made, echo, "9000/udp")["0.0.0.0"]
    assert ask_udp("127.0.0.1", port) == "echo ping"
    assert ask_udp(host_address, port, ns=outside) == "echo ping"
    # TCP on that port is not published.
    assert netlab.ask("tcp", "127.0.0.1", port, timeout=1) == ""


def test_dash_capital_p_publishes_every_exposed_port(made: Made) -> None:
    redis = made.run("-P", "redis")
    port = port_of(made, redis, "6379/tcp")["0.0.0.0"]
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"PING\r\n")
                assert conn.recv(64) == b"+PONG\r\n"
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    box = made.run("--expose", "80", "--expose", "9000/udp", "-P", BUSYBOX, "sleep", "600")
    listing = made.docker("port", box)
    assert re.search(r"^80/tcp -> 0\.0\.0\.0:\d+$", listing, re.M), listing
    assert re.search(r"^9000/udp -> 0\.0\.0\.0:\d+$", listing, re.M), listing
    assert set(made.inspect(box)["NetworkSettings"]["Ports"]) == {"80/tcp", "9000/udp"}


def _nft_rules(table: str) -> int:
    listed = json.loads(netlab.run("nft", "-j", "list", "table", "ip", table).stdout)
    return sum(1 for item in listed["nftables"] if "rule" in item)


def _veths_on(bridge: str) -> list[str]:
    return sorted(name for name, master in _link_names(netlab.run("ip", "-o", "link").stdout)
                  .items() if master == bridge)  # fmt: skip


def test_a_port_already_allocated_fails_the_start_and_leaves_nothing(
    made: Made, ketchd: Daemon
) -> None:
    port = free_port()
    made.run("-p", f"127.0.0.1:{port}:80", BUSYBOX, "sleep", "600")
    rules, veths = _nft_rules(ketchd.firewall_table), _veths_on(ketchd.bridge)
    second = _name("second")
    made.containers.append(second)
    failed = made.attempt("run", "-d", "--name", second, "-p", f"{port}:80", BUSYBOX,
                          "sleep", "600")  # fmt: skip
    assert failed.returncode != 0
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in failed.stderr
    assert _nft_rules(ketchd.firewall_table) == rules
    assert _veths_on(ketchd.bridge) == veths
    state = made.inspect(second)
    assert state["State"]["Status"] == "created"
    assert state["NetworkSettings"]["IPAddress"] == ""
    # A port some other process holds: the same words, and again nothing left.
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        held = holder.getsockname()[1]
        failed = made.attempt("start", second)
        assert failed.returncode == 0 or "already allocated" in failed.stderr  # its own port
        made.attempt("rm", "-f", second)
        failed = made.attempt("run", "-d", "--name", second, "-p", f"127.0.0.1:{held}:80",
                              BUSYBOX, "sleep", "600")  # fmt: skip
        assert f"Bind for 127.0.0.1:{held} failed: port is already allocated" in failed.stderr
    finally:
        holder.close()
    assert _nft_rules(ketchd.firewall_table) == rules
    assert _veths_on(ketchd.bridge) == veths


def test_a_start_that_fails_after_its_ports_are_published_leaves_no_rule_nor_address(
    made: Made, ketchd: Daemon
) -> None:
    rules = _nft_rules(ketchd.firewall_table)
    port = free_port()
    name = _name("broken")
    made.containers.append(name)
    failed = made.attempt("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", BUSYBOX,
                          "/no/such/program")  # fmt: skip
    assert failed.returncode != 0 and "no such file or directory" in failed.stderr
    assert _nft_rules(ketchd.firewall_table) == rules
    # The port is free again: another container takes it.
    made.run("-p", f"127.0.0.1:{port}:80", BUSYBOX, "sleep", "600")


# -- network modes and links -----------------------------------------------------------------


def test_a_bridge_container_joins_the_namespace_made_for_it_and_it_goes_with_it(
    made: Made,
) -> None:
    first = made.run(BUSYBOX, "sleep", "600")
    view = made.inspect(first)
    sandbox, pid = view["NetworkSettings"]["SandboxKey"], view["State"]["Pid"]
    # The namespace held at SandboxKey is the one the container's process is in.
    assert os.stat(sandbox).st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino
    assert os.stat(sandbox).st_ino != os.stat("/proc/self/ns/net").st_ino
    made.docker("stop", "-t", "0", first)
    assert not os.path.exists(sandbox)
    assert sandbox not in Path("/proc/self/mountinfo").read_text()


def test_containers_starting_at_once_on_a_new_network_all_start(
    made: Made, client: docker.DockerClient
) -> None:
    # The first start on a user network serves its DNS: at once, each would find it not
    # served yet and bind the same address.
    name = _name("crowd")
    network = client.networks.create(name, driver="bridge")
    made.networks.append(name)
    MADE_BRIDGES.add(f"kt-{network.id[:12]}")
    crowd = [client.containers.create(BUSYBOX, ["sleep", "600"], network=name)
             for _ in range(6)]  # fmt: skip
    made.containers.extend(c.id for c in crowd)
    with concurrent.futures.ThreadPoolExecutor(len(crowd)) as pool:
        failures = [f.exception() for f in [pool.submit(c.start) for c in crowd]]
    assert failures == [None] * len(crowd), failures
    for container in crowd:
        container.reload()
        assert container.attrs["State"]["Running"]


def test_network_none_has_loopback_only(made: Made) -> None:
    links = made.docker("run", "--rm", "--network", "none", BUSYBOX, "ip", "-o", "link")
    assert [line.split()[1].rstrip(":") for line in links.splitlines()] == ["lo"]


def test_network_host_has_the_hosts_interfaces_and_hostname(made: Made, ketchd: Daemon) -> None:
    out = made.docker("run", "--rm", "--network", "host", BUSYBOX, "sh", "-c",
                      "hostname; ip -o link")  # fmt: skip
    hostname, *links = out.splitlines()
    assert hostname == socket.gethostname()
    inside = {line.split()[1].rstrip(":").split("@")[0] for line in links}
    host = set(_link_names(netlab.run("ip", "-o", "link").stdout))
    assert {"lo", ketchd.bridge} <= inside
    assert {n for n in host if not n.startswith(("veth", "kt"))} <= inside


def test_network_container_shares_the_other_containers_interfaces(made: Made) -> None:
    first = made.run(BUSYBOX, "sleep", "600")
    ip = made.ip(first, "bridge")
    out = made.docker("run", "--rm", "--network", f"container:{first}", BUSYBOX,
                      "ip", "-o", "-4", "addr", "show", "eth0")  # fmt: skip
    assert f"inet {ip}/" in out


def test_a_failed_start_of_a_run_rm_removes_the_container_and_returns(made: Made) -> None:
    gone = made.run(BUSYBOX, "true")
    made.docker("wait", gone)
    name = _name("joiner")
    made.containers.append(name)
    # The docker CLI waits for a --rm container's removal after its start failed.
    failed = made.attempt("run", "--rm", "--name", name, "--network", f"container:{gone}",
                          BUSYBOX, "true", timeout=20)  # fmt: skip
    assert failed.returncode == 125
    assert "cannot join network of a non running container" in failed.stderr
    assert made.attempt("inspect", name).returncode != 0


def test_a_legacy_link_names_the_linked_container_and_sets_its_variables(made: Made) -> None:
    db = made.run("--expose", "6379", "-e", "SECRET=kept", BUSYBOX, "sleep", "600")
    db_name = made.inspect(db)["Name"].lstrip("/")
    ip = made.ip(db, "bridge")
    out = made.docker("run", "--rm", "--link", f"{db_name}:olddb", BUSYBOX, "sh", "-c",
                      "ping -c1 -W2 olddb && env")  # fmt: skip
    assert f"({ip})" in out or f"from {ip}" in out, out
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line and
               line.startswith("OLDDB_"))  # fmt: skip
    assert env["OLDDB_PORT"] == f"tcp://{ip}:6379"
    assert env["OLDDB_PORT_6379_TCP_ADDR"] == ip
    assert env["OLDDB_ENV_SECRET"] == "kept"
    assert env["OLDDB_NAME"].endswith("/olddb")


def test_rm_link_takes_the_link_off_the_parent_and_leaves_both_containers(
    made: Made, env: dict[str, str]
) -> None:
    db = made.run(BUSYBOX, "sleep", "600")
    db_name = made.inspect(db)["Name"].lstrip("/")
    parent = made.run("--link", f"{db_name}:mylink", BUSYBOX, "sleep", "600")
    parent_name = made.inspect(parent)["Name"].lstrip("/")
    assert made.inspect(parent)["HostConfig"]["Links"]
    made.docker("rm", "--link", f"/{parent_name}/mylink")
    assert not made.inspect(parent)["HostConfig"]["Links"]
    assert made.inspect(parent)["State"]["Running"] and made.inspect(db)["State"]["Running"]
    again = made.attempt("rm", "--link", f"{parent_name}/mylink")
    assert again.returncode != 0 and f"No such container: {parent_name}/mylink" in again.stderr
    orphan = ketch(env, "rm", "--link", "no-such-parent/x")
    assert orphan.returncode != 0
    assert b"Cannot get parent /no-such-parent for link name /no-such-parent/x" in orphan.stderr


# -- the SDK's view --------------------------------------------------------------------------


def test_the_sdk_sees_networks_and_settings(made: Made, client: docker.DockerClient) -> None:
    name = _name("sdk")
    network = client.networks.create(name, driver="bridge", labels={"e2e": "yes"})
    made.networks.append(name)
    MADE_BRIDGES.add(f"kt-{network.id[:12]}")
    container = client.containers.run(BUSYBOX, ["sleep", "600"], detach=True, name=_name("sdk"),
                                      ports={"80/tcp": ("127.0.0.1", None)})  # fmt: skip
    made.containers.append(container.id)
    network.connect(container, aliases=["sdk-alias"])
    container.reload()
    settings = container.attrs["NetworkSettings"]
    assert settings["IPAddress"] and settings["Gateway"] and settings["MacAddress"]
    assert settings["Ports"]["80/tcp"][0]["HostIp"] == "127.0.0.1"
    on_network = settings["Networks"][name]
    assert "sdk-alias" in on_network["Aliases"]
    network.reload()
    assert container.id in network.attrs["Containers"]
    assert network.attrs["Labels"] == {"e2e": "yes"}
    network.disconnect(container)
    container.reload()
    assert name not in container.attrs["NetworkSettings"]["Networks"]


# -- the ketch CLI ----------------------------------------------------------------------------


def test_the_ketch_cli_manages_networks_and_shows_ports(made: Made, env: dict[str, str]) -> None:
    def k(*args: str) -> str:
        done = ketch(env, *args)
        assert done.returncode == 0, (args, done.stderr.decode())
        return done.stdout.decode()

    name, spare = _name("kn"), _name("spare")
    made.networks += [name, spare]
    network_id = k("network", "create", "--label", "e2e=yes", name).strip()
    MADE_BRIDGES.add(f"kt-{network_id[:12]}")
    assert name in k("network", "ls")
    assert json.loads(k("network", "inspect", name))[0]["Labels"] == {"e2e": "yes"}
    web = _name("kweb")
    made.containers.append(web)
    k("run", "-d", "--name", web, "-p", "127.0.0.1::80", BUSYBOX, "sh", "-c", HTTPD)
    shown = k("port", web).strip()
    match = re.fullmatch(r"80/tcp -> 127\.0\.0\.1:(\d+)", shown)
    assert match, shown
    assert fetch(f"http://127.0.0.1:{match.group(1)}/") == PAGE
    assert f"127.0.0.1:{match.group(1)}->80/tcp" in k("ps", "--filter", f"name={web}")
    k("network", "connect", "--alias", "kalias", name, web)
    connected = json.loads(k("network", "inspect", name))[0]["Containers"]
    assert [c["Name"] for c in connected.values()] == [web]
    peer = made.run("--network", name, BUSYBOX, "sleep", "600")
    assert made.exec(peer, "nslookup", "kalias").returncode == 0
    k("network", "disconnect", name, web)
    # (Not asked of the DNS again: a name it lacks goes to the host's resolvers.)
    remaining = json.loads(k("network", "inspect", name))[0]["Containers"]
    assert web not in [c["Name"] for c in remaining.values()] and len(remaining) == 1
    made.docker("rm", "-f", peer)
    assert ketch(env, "network", "rm", "bridge").returncode != 0
    k("network", "rm", name)
    spare_id = k("network", "create", spare).strip()
    MADE_BRIDGES.add(f"kt-{spare_id[:12]}")
    assert spare in k("network", "prune", "-f")
    assert name not in k("network", "ls") and spare not in k("network", "ls")


# -- ketchd killed and started again ----------------------------------------------------------


def test_forwarding_and_dns_outlive_a_killed_ketchd(
    tmp_path: Path, hub_mirror: RegistryServer, host_unchanged: None
) -> None:
    daemon = run_daemon(tmp_path, mirrors=[hub_mirror.url])
    environ = dict(os.environ, DOCKER_HOST=daemon.url, DOCKER_CONFIG=str(tmp_path / "dc"))
    environ.pop("DOCKER_CONTEXT", None)
    made = Made(environ)
    try:
        made.docker("pull", BUSYBOX)
        net = made.network()
        web = made.run("--network", net, "-p", "127.0.0.1::80", BUSYBOX, "sh", "-c", HTTPD)
        peer = made.run("--network", net, BUSYBOX, "sleep", "600")
        url = f"http://127.0.0.1:{port_of(made, web, '80/tcp')['127.0.0.1']}/"
        web_name, web_ip = made.inspect(web)["Name"].lstrip("/"), made.ip(web, net)
        assert fetch(url) == PAGE

        daemon.kill()
        assert fetch(url) == PAGE  # the rules stay while ketchd is down
        daemon.restart()
        assert fetch(url) == PAGE
        looked_up = made.exec(peer, "nslookup", web_name)
        assert looked_up.returncode == 0 and web_ip in looked_up.stdout, looked_up.stdout
        # Addresses are not handed out twice after the restart.
        fresh = made.run("--network", net, BUSYBOX, "sleep", "600")
        assert made.ip(fresh, net) not in (web_ip, made.ip(peer, net))
    finally:
        made.remove_all()
        daemon.stop()


# -- last: nothing the module made is left -------------------------------------------------


def test_after_everything_the_host_is_as_before_the_module(
    ketchd: Daemon, client: docker.DockerClient, module_host_state: dict[str, str]
) -> None:
    assert client.containers.list(all=True) == []
    assert {n.name for n in client.networks.list()} == {"bridge", "host", "none"}
    assert_host_as_before(module_host_state, ketchd)
