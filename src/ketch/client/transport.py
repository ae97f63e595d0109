"""Unix-socket plumbing and Docker's hijacked (101) connections (over _socket's sockets,
as http11's: the socket module costs every command ~3 ms to import)."""

from __future__ import annotations

import _socket

from ketch import errors
from ketch.client.http11 import UnixHTTPConnection

__all__ = ["DEFAULT_HOST", "HijackedConnection", "UnixHTTPConnection", "socket_path_of"]

DEFAULT_HOST = "unix:///run/ketch/ketch.sock"


def socket_path_of(host: str) -> str:
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise errors.InvalidArgument(
        f"unsupported host {host!r}: ketch's client speaks to unix:// sockets only"
    )


def open_unix_socket(socket_path: str) -> _socket.socket:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
    except OSError:
        sock.close()
        raise
    return sock


class HijackedConnection:
    """The raw duplex byte stream left after the daemon answered 101 Switching Protocols."""

    def __init__(self, sock: _socket.socket, already_read: bytes) -> None:
        self.sock = sock
        self._already_read = already_read

    def recv(self, size: int = 65536) -> bytes:
        if self._already_read:
            data, self._already_read = self._already_read, b""
            return data
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: the daemon sees EOF on stdin and keeps sending output."""
        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def shutdown(self) -> None:
        """End both directions now: a reader blocked in recv() wakes up with EOF."""
        try:
            self.sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HijackedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_head(sock: _socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read the status line and headers; returns what was read past them too."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the daemon closed the connection before answering")
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def read_body(sock: _socket.socket, headers: dict[str, str], rest: bytes) -> bytes:
    """The body of an ordinary response read off a raw socket."""
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return rest[:length]
    data = rest
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return _dechunk(data)
    return data


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        body += data[:size]
        data = data[size + 2 :]
    return body
