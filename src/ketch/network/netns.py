"""Network namespaces that outlive no container but exist before its process does.

A container on a bridge gets its namespace from here, kept open by a bind mount at a
path of its own, and the runtime joins it (config.json names the path, as Docker's
sandbox). So the veth, address and routes can be made while the container's process is
still being created, instead of after it, and the namespace is removed exactly when the
container's network is undone, not whenever its last process happens to end.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
_MS_BIND = 0x1000
_MNT_DETACH = 0x2
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def create(path: Path) -> None:
    """A new network namespace with its loopback up, held open by a bind mount at `path`.

    Made by a thread of its own, since unshare() moves only the calling thread; the
    thread ends there, and the daemon's other threads never leave the host's namespace.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    failure: list[BaseException] = []

    def unshare_and_bind() -> None:
        try:
            _check(_libc.unshare(_CLONE_NEWNET), "unshare")
            _loopback_up()
            source = f"/proc/self/task/{threading.get_native_id()}/ns/net"
            _check(_libc.mount(source.encode(), bytes(path), None, _MS_BIND, None), "mount")
        except BaseException as e:  # handed to the caller's thread
            failure.append(e)

    thread = threading.Thread(target=unshare_and_bind, name="netns-create", daemon=True)
    thread.start()
    thread.join()
    if failure:
        path.unlink(missing_ok=True)
        raise failure[0]


def remove(path: Path) -> None:
    """Let go of the namespace at `path` (it ends once no process is in it); a no-op when
    it is gone already."""
    if _libc.umount2(bytes(path), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not a mount point, or no such file
            raise OSError(err, f"umount {path}: {os.strerror(err)}")
    path.unlink(missing_ok=True)


def is_held(path: Path) -> bool:
    """Whether `path` is a namespace made by create() and not yet removed."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except FileNotFoundError:
        return False
