"""Bridges, veth pairs and addresses through netlink (pyroute2), in the host and in containers.

The only module that speaks to pyroute2 (it has no type information: the rest
of the part sees typed functions). Calls block; the manager runs them in
worker threads.

A container's side is configured without forking (ketchd has threads, and the
design forbids forking from the daemon; pyroute2's own netns support forks a
child): a short-lived thread setns()es into the container's network namespace
(setns on CLONE_NEWNET changes only the calling thread), sets the address, the
up flag and the default route there by ioctl (ifioctl.py), and ends. The veth
is made with its peer created directly in the container's namespace
(IFLA_NET_NS_FD) and already named eth<N> with its MAC and MTU: one request
instead of create, move and rename.

pyroute2 is imported at the first netlink call, not with this module: with its
NDB, IPDB, mocks and conntrack it is ~9 MiB of an idle daemon's ~45, and a
daemon with no bridge container running never needs it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any, TypeVar, cast

from ketch.network import ifioctl

CLONE_NEWNET = 0x40000000
_NETLINK_ROUTE = 0
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class LinkError(Exception):
    pass


def _iproute(**kwargs: Any) -> Any:
    """A pyroute2 IPRoute, pyroute2 imported at the first (its import resets its logger to
    log every netlink message: set back to warnings, as the daemon's own loggers are)."""
    first = "pyroute2" not in sys.modules
    from pyroute2 import IPRoute  # type: ignore[import-untyped]

    if first:
        logging.getLogger("pyroute2").setLevel(logging.WARNING)
    return IPRoute(**kwargs)


def _netlink_error_code(error: BaseException) -> int | None:
    """The errno of a pyroute2 NetlinkError; None for any other exception."""
    from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

    return int(error.code) if isinstance(error, NetlinkError) else None


def docker_mac(ip: IPv4Address) -> str:
    """Docker's MAC for an address: 02:42 and the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def in_netns(netns_path: str, action: Callable[[], T]) -> T:
    """`action()` run by a thread of its own that entered the network namespace at
    `netns_path` and then ends (setns moves only the calling thread)."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def enter_and_act() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
        except BaseException as e:  # handed to the caller's thread
            failure.append(LinkError(f"cannot enter network namespace {netns_path}: {e}"))
            return
        try:
            result.append(action())
        except BaseException as e:
            failure.append(e)

    thread = threading.Thread(target=enter_and_act, name="netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return cast(T, result[0])


class _HostNetlink:
    """One netlink socket in the host's namespace for the whole process, used by one thread
    at a time (pyroute2's synchronous IPRoute runs an event loop of its own per call):
    opening one per call would cost more than most requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ipr: Any = None

    @contextmanager
    def use(self) -> Iterator[Any]:
        with self._lock:
            if self._ipr is None:
                self._ipr = _iproute()
            yield self._ipr

    def close(self) -> None:
        with self._lock:
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None


_host = _HostNetlink()
host_netlink = _host.use
close = _host.close


def _host_index(name: str) -> int | None:
    """A host link's index by one ioctl: a netlink lookup dumps and parses every link of the
    host, one more veth per running container (~0.1 ms each, in Python, per lookup)."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def link_exists(name: str) -> bool:
    return _host_index(name) is not None


def host_mtu() -> int:
    """The MTU of the link the default route goes out of (1500 when there is none)."""
    return ifioctl.default_route_mtu() or 1500


def _sysctl(path: str, value: str) -> None:
    target = Path("/proc/sys") / path
    if target.read_text().strip() != value:
        target.write_text(value + "\n")


def enable_ip_forward() -> None:
    """net.ipv4.ip_forward=1, as dockerd sets it: without it nothing leaves a bridge."""
    _sysctl("net/ipv4/ip_forward", "1")


def ensure_bridge(name: str, gateway: IPv4Interface, mtu: int) -> bool:
    """The bridge `name` up with `gateway` as its address and `mtu`; True if it was made."""
    made = ifioctl.ensure_bridge(name, gateway, mtu)
    if made is None:  # another primary address: netlink sees (and adds to) them all
        made = _ensure_bridge_netlink(name, gateway, mtu)
    # 127.0.0.1:port reaches a container only if the kernel routes loopback-sourced
    # packets out of the bridge, as dockerd allows with the userland proxy off.
    _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")
    return made


def _ensure_bridge_netlink(name: str, gateway: IPv4Interface, mtu: int) -> bool:
    made = False
    with host_netlink() as ipr:
        index = _host_index(name)
        if index is None:
            ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
            made = True
            index = _host_index(name)
            if index is None:
                raise LinkError(f"bridge {name} vanished after it was made")
        else:
            ipr.link("set", index=index, mtu=mtu)
        have = {
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"])
            for a in ipr.addr("dump", index=index, family=socket.AF_INET)
        }
        if (str(gateway.ip), gateway.network.prefixlen) not in have:
            ipr.addr(
                "add",
                index=index,
                address=str(gateway.ip),
                prefixlen=gateway.network.prefixlen,
                broadcast=str(gateway.network.broadcast_address),
            )
        ipr.link("set", index=index, state="up")
    return made


def delete_link(name: str) -> bool:
    """Delete a host link (a bridge, or a veth and so its peer); False if it was gone."""
    index = _host_index(name)
    if index is None:
        return False
    with host_netlink() as ipr:
        try:
            ipr.link("del", index=index)
        except Exception as e:
            if _netlink_error_code(e) == 19:  # ENODEV: went between the lookup and the delete
                return False
            raise
        return True


@dataclass(frozen=True)
class ContainerLink:
    host_ifname: str  # the host side, on the bridge
    bridge: str
    netns_path: str
    address: IPv4Interface
    gateway: IPv4Address
    mac: str
    mtu: int
    default_route: bool


def add_container_link(link: ContainerLink) -> str:
    """The veth pair for one endpoint, configured on both sides; the container-side name
    (eth<N>, the first free N). Undone (the host side deleted) when any step fails.

    Only the veth is made through netlink; the container's side is set by ioctls in its
    namespace (pyroute2 building and parsing the messages was most of a bridge attach)."""
    ifname = in_netns(link.netns_path, ifioctl.free_eth_name)
    bridge = _host_index(link.bridge)
    if bridge is None:
        raise LinkError(f"bridge {link.bridge} does not exist")
    with host_netlink() as host:
        fd = os.open(link.netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            host.link(
                "add",
                ifname=link.host_ifname,
                kind="veth",
                mtu=link.mtu,
                master=bridge,
                state="up",
                peer={
                    "ifname": ifname,
                    "net_ns_fd": fd,
                    "address": link.mac,
                    "mtu": link.mtu,
                },
            )
        finally:
            os.close(fd)
    gateway = link.gateway if link.default_route else None
    try:
        in_netns(
            link.netns_path,
            lambda: ifioctl.configure_container_link(ifname, link.address, gateway),
        )
    except BaseException as error:
        delete_link(link.host_ifname)
        if isinstance(error, OSError):
            raise LinkError(f"cannot configure {ifname} in {link.netns_path}: {error}") from error
        raise
    return ifname


def ipv4_addresses(name: str) -> list[IPv4Interface]:
    index = _host_index(name)
    if index is None:
        return []
    with host_netlink() as ipr:
        return [
            IPv4Interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
            for a in ipr.addr("dump", index=index, family=socket.AF_INET)
        ]
