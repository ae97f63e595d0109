"""Terminals made in the container's own devpts, so `tty` inside names /dev/pts/N as in Docker."""

from __future__ import annotations

import fcntl
import os
import socket
import struct

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty(devpts: str) -> tuple[int, int, int]:
    """(master, slave, number) from the devpts instance mounted at `devpts`.

    A pty from another devpts instance (the host's) would work as a terminal
    but have no name inside the container.
    """
    if not os.path.exists(os.path.join(devpts, "ptmx")):
        master, slave = os.openpty()
        return master, slave, -1
    master = os.open(os.path.join(devpts, "ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
        slave = os.open(os.path.join(devpts, str(number)), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave, number


def send_fd(sock_fd: int, fd: int) -> None:
    with socket.socket(fileno=os.dup(sock_fd)) as sock:
        socket.send_fds(sock, [b"m"], [fd])


def receive_fd(sock: socket.socket) -> int | None:
    """The fd the peer sent, or None if it closed its end without sending one."""
    _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    return fds[0] if fds else None
