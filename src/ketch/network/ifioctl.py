"""A bridge, its MTU, its IPv4 address and its up flag through ioctl(2), as brctl and
ifconfig set them, and the default route's MTU from /proc: no netlink.

What a daemon's start needs (its bridges up, each with its gateway) is done here so
that it does not import pyroute2 (links.py), ~9 MiB of an idle daemon: pyroute2 is
loaded when a container's veth is made. ioctl sees one IPv4 address per link (the
primary); a bridge holding another first is left to links.py, which sees them all.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import socket
import struct
from ipaddress import IPv4Address, IPv4Interface

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCGIFADDR = 0x8915
SIOCSIFADDR = 0x8916
SIOCGIFNETMASK = 0x891B
SIOCSIFNETMASK = 0x891C
SIOCSIFBRDADDR = 0x891A
SIOCGIFMTU = 0x8921
SIOCSIFMTU = 0x8922
SIOCBRADDBR = 0x89A0
IFF_UP = 0x1
_IFREQ_SIZE = 40  # struct ifreq on 64-bit Linux: a 16-byte name and a 24-byte union


def _ifreq(name: str, payload: bytes = b"") -> bytes:
    return struct.pack("16s", name.encode()) + payload.ljust(_IFREQ_SIZE - 16, b"\0")


def _sockaddr_in(address: IPv4Address) -> bytes:
    return struct.pack("=H2s4s8x", socket.AF_INET, b"\0\0", address.packed)


def _address(sock: socket.socket, request: int, name: str) -> IPv4Address | None:
    """The address an address ioctl answers; None when the link has no IPv4 address."""
    try:
        answer = fcntl.ioctl(sock, request, _ifreq(name))
    except OSError as error:
        if error.errno == errno.EADDRNOTAVAIL:
            return None
        raise
    return IPv4Address(answer[20:24])


def _exists(sock: socket.socket, name: str) -> bool:
    try:
        fcntl.ioctl(sock, SIOCGIFFLAGS, _ifreq(name))
    except OSError as error:
        if error.errno == errno.ENODEV:
            return False
        raise
    return True


def ensure_bridge(name: str, gateway: IPv4Interface, mtu: int) -> bool | None:
    """The bridge `name` up, with `mtu` and `gateway` as its address: True if it was made,
    False if it was there; None, having changed nothing, when the link's primary IPv4
    address is another one (it may hold the gateway as a secondary: netlink's to settle)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        made = not _exists(sock, name)
        if not made:
            current = _address(sock, SIOCGIFADDR, name)
            if current is not None and (
                current != gateway.ip
                or _address(sock, SIOCGIFNETMASK, name) != gateway.network.netmask
            ):
                return None
        else:
            fcntl.ioctl(sock, SIOCBRADDBR, name.encode() + b"\0")
        if made or _mtu(sock, name) != mtu:
            fcntl.ioctl(sock, SIOCSIFMTU, _ifreq(name, struct.pack("i", mtu)))
        if made or _address(sock, SIOCGIFADDR, name) is None:
            # The address (its prefix then set by the mask, the broadcast with it), as
            # netlink's add of address/prefix with the broadcast does.
            fcntl.ioctl(sock, SIOCSIFADDR, _ifreq(name, _sockaddr_in(gateway.ip)))
            fcntl.ioctl(sock, SIOCSIFNETMASK, _ifreq(name, _sockaddr_in(gateway.netmask)))
            broadcast = gateway.network.broadcast_address
            fcntl.ioctl(sock, SIOCSIFBRDADDR, _ifreq(name, _sockaddr_in(broadcast)))
        flags = struct.unpack_from("H", fcntl.ioctl(sock, SIOCGIFFLAGS, _ifreq(name)), 16)[0]
        if not flags & IFF_UP:
            fcntl.ioctl(sock, SIOCSIFFLAGS, _ifreq(name, struct.pack("H", flags | IFF_UP)))
    return made


def _mtu(sock: socket.socket, name: str) -> int:
    answer = fcntl.ioctl(sock, SIOCGIFMTU, _ifreq(name))
    return int(struct.unpack_from("i", answer, 16)[0])


def default_route_mtu(routes: str = "/proc/net/route") -> int | None:
    """The MTU of the link the main table's IPv4 default route goes out of; None when there
    is no default route."""
    try:
        with open(routes) as table:
            lines = table.read().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # Iface Destination Gateway Flags RefCnt Use Metric Mask ...: a default route has
        # destination and mask 0.
        if len(fields) >= 8 and int(fields[1], 16) == 0 and int(fields[7], 16) == 0:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                try:
                    return _mtu(sock, fields[0])
                except OSError:
                    continue
    return None


SIOCADDRT = 0x890B
RTF_UP = 0x1
RTF_GATEWAY = 0x2


def free_eth_name() -> str:
    """The first eth<N> not taken in the calling thread's network namespace."""
    number = 0
    while True:
        try:
            socket.if_nametoindex(f"eth{number}")
        except OSError:
            return f"eth{number}"
        number += 1


def configure_container_link(name: str, address: IPv4Interface,
                             gateway: IPv4Address | None) -> None:  # fmt: skip
    """In the calling thread's namespace: `address` on link `name`, the link up, and a
    default route via `gateway` out of it if given (as netlink's addr add with the
    broadcast, link set up and route add do, a few ioctls instead of a netlink library's
    message building)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, SIOCSIFADDR, _ifreq(name, _sockaddr_in(address.ip)))
        fcntl.ioctl(sock, SIOCSIFNETMASK, _ifreq(name, _sockaddr_in(address.netmask)))
        broadcast = address.network.broadcast_address
        fcntl.ioctl(sock, SIOCSIFBRDADDR, _ifreq(name, _sockaddr_in(broadcast)))
        flags = struct.unpack_from("H", fcntl.ioctl(sock, SIOCGIFFLAGS, _ifreq(name)), 16)[0]
        fcntl.ioctl(sock, SIOCSIFFLAGS, _ifreq(name, struct.pack("H", flags | IFF_UP)))
        if gateway is not None:
            device = ctypes.create_string_buffer(name.encode())
            fcntl.ioctl(sock, SIOCADDRT, _rtentry(gateway, ctypes.addressof(device)))


def _rtentry(gateway: IPv4Address, device: int) -> bytes:
    """struct rtentry (64-bit Linux) of a default route via `gateway` out of the device
    whose name is at address `device`."""
    any_address = _sockaddr_in(IPv4Address(0))
    return struct.pack(
        "=8x16s16s16sH2x4x8x8xh6xQ8x8x2x6x",
        any_address,  # rt_dst
        _sockaddr_in(gateway),  # rt_gateway
        any_address,  # rt_genmask
        RTF_UP | RTF_GATEWAY,  # rt_flags
        0,  # rt_metric
        device,  # rt_dev
    )
