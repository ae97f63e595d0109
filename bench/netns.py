"""Named network namespaces for the benchmarks' competitors, so their bridges and
firewall rules live apart from the host's (as `ip netns` makes them: /run/netns/<name>)."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
COMPETITOR_LINKS = ("podman", "cni-", "br-")
COMPETITOR_CHAINS = re.compile(r"DOCKER|NETAVARK|CNI-")


def create(name: str) -> None:
    """A new namespace with its loopback up; refuses one that exists (someone else's)."""
    if (NETNS_DIR / name).exists():
        raise RuntimeError(f"network namespace {name} exists already: remove it if it is a "
                           "leftover of an earlier run (ip netns del {name})")  # fmt: skip
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)


def delete(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], check=False, stderr=subprocess.DEVNULL)


def prefix(name: str | None) -> list[str]:
    """The argv prefix that runs a command in the namespace (the network alone: `ip netns
    exec` would also remount /sys)."""
    return ["nsenter", f"--net={NETNS_DIR / name}"] if name else []


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Moves the calling thread into the namespace for the block: the sockets it makes
    and the processes it starts meanwhile belong there."""
    if name is None:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / name, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
        try:
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the own namespace")
    finally:
        os.close(own)
        os.close(target)


def competitor_traces() -> set[str]:
    """The links and firewall rules Docker's and Podman's networking would make on the host
    (docker0, podman0, cni-*, br-*; DOCKER, NETAVARK and CNI chains): the benchmark
    checks afterwards that it added none. Other links and rules are left out of the
    comparison, as tests running beside it make and remove their own."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()}
    found = {f"link {n}" for n in names if n == "docker0" or n.startswith(COMPETITOR_LINKS)}
    for iptables in ("iptables", "iptables-legacy"):
        for table in ("filter", "nat"):
            try:
                rules = subprocess.run([iptables, "-t", table, "-S"], capture_output=True,
                                       text=True).stdout  # fmt: skip
            except FileNotFoundError:
                break
            found |= {f"{iptables} {table}: {r}" for r in rules.splitlines()
                      if COMPETITOR_CHAINS.search(r)}  # fmt: skip
    return found
