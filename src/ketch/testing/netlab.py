"""Network namespaces that stand in for containers and for another host, for tests and benches.

Everything here is made with a unique name and removed by its context manager,
failure or not. Processes inside a namespace run through `ip netns exec` (the
test process is not the daemon: forking here is fine).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

NETNS_DIR = "/var/run/netns"


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30)


def host_state() -> dict[str, str]:
    """What must be the same after a test as before it: links, addresses, routes, rules."""
    return {
        "link": run("ip", "-o", "link").stdout,
        "addr": run("ip", "-o", "addr").stdout,
        "route": run("ip", "route").stdout,
        "nft": run("nft", "list", "ruleset").stdout,
    }


@dataclass
class Netns:
    name: str

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.name}"

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.name, *argv, check=check)

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.name, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@contextmanager
def netns(prefix: str = "kt-test") -> Iterator[Netns]:
    """A new network namespace with its loopback up (as a container runtime leaves it)."""
    ns = Netns(f"{prefix}-{secrets.token_hex(4)}")
    run("ip", "netns", "add", ns.name)
    try:
        ns.exec("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        run("ip", "netns", "del", ns.name, check=False)


@contextmanager
def outside_host(host_address: str, peer_address: str, prefix_len: int = 30) -> Iterator[Netns]:
    """A namespace acting as another host: a veth pair to this host, `host_address` on this
    side, `peer_address` on its side, and its default route via this host."""
    with netns("kt-out") as ns:
        host_side = f"kto{secrets.token_hex(4)}"
        run("ip", "link", "add", host_side, "type", "veth", "peer", "name", "eth0",
            "netns", ns.name)  # fmt: skip
        try:
            run("ip", "addr", "add", f"{host_address}/{prefix_len}", "dev", host_side)
            run("ip", "link", "set", host_side, "up")
            ns.exec("ip", "addr", "add", f"{peer_address}/{prefix_len}", "dev", "eth0")
            ns.exec("ip", "link", "set", "eth0", "up")
            ns.exec("ip", "route", "add", "default", "via", host_address)
            yield ns
        finally:
            run("ip", "link", "del", host_side, check=False)


# A server answering each TCP connection and each UDP datagram with "<prefix> <data>".
_SERVER = r"""
import socket, sys, threading
port = int(sys.argv[1]); prefix = sys.argv[2].encode()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("0.0.0.0", port))
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", port)); tcp.listen(16)
def serve_udp():
    while True:
        data, peer = udp.recvfrom(2048); udp.sendto(prefix + b" " + data, peer)
threading.Thread(target=serve_udp, daemon=True).start()
print("ready", flush=True)
while True:
    conn, _ = tcp.accept()
    with conn:
        conn.sendall(prefix + b" " + conn.recv(2048))
"""


@contextmanager
def echo_server(ns: Netns, port: int, prefix: str) -> Iterator[None]:
    proc = ns.popen(sys.executable, "-c", _SERVER, str(port), prefix)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"echo server did not start: {line!r} {proc.stderr}")
        yield
    finally:
        proc.kill()
        proc.wait()


# A client run where it is told (the host, or inside a namespace).
_CLIENT = r"""
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "tcp":
    s = socket.create_connection((host, port), timeout=float(sys.argv[4]))
    s.sendall(b"ping"); print(s.recv(2048).decode())
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(float(sys.argv[4]))
    s.sendto(b"ping", (host, port)); print(s.recv(2048).decode())
"""


def ask(proto: str, host: str, port: int, ns: Netns | None = None, timeout: float = 3.0) -> str:
    """The server's answer to "ping" over `proto`, or "" when none came."""
    argv = [sys.executable, "-c", _CLIENT, proto, host, str(port), str(timeout)]
    if ns is not None:
        argv = ["ip", "netns", "exec", ns.name, *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
    return done.stdout.strip() if done.returncode == 0 else ""


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.05)
    return False
