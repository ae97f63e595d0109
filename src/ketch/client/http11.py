"""A minimal HTTP/1.1 client connection over a Unix socket.

Why not http.client: importing it (with the email parser and ssl it pulls in)
costs ~20 ms, a third of `ketch ps`'s whole run. The daemon is local and
speaks plain HTTP/1.1, so only what it sends needs reading: a status line,
headers, and a body framed by Content-Length, chunked encoding, or close.

The socket is _socket's: the socket module wraps it in enums (and imports
selectors) for nothing a request over a Unix socket needs, ~3 ms of each
command.
"""

from __future__ import annotations

import _socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_READ_SIZE = 65536


class HTTPError(ConnectionError):
    """The daemon's answer could not be read as HTTP."""


class UnixHTTPConnection:
    def __init__(self, socket_path: str, timeout: float | None = None) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self.sock: _socket.socket | None = None
        self._method = "GET"

    def connect(self) -> None:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock

    def request(
        self,
        method: str,
        url: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send the request; a body given as chunks (a build context made while it is
        sent) goes with chunked transfer encoding."""
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self._method = method
        lines = [f"{method} {url} HTTP/1.1", "Host: localhost"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body is not None and not isinstance(body, bytes):
            lines.append("Transfer-Encoding: chunked")
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            for chunk in body:
                if chunk:
                    self.sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.sock.sendall(b"0\r\n\r\n")
            return
        if body is not None or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body or b'')}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))

    def getresponse(self) -> HTTPResponse:
        if self.sock is None:
            raise HTTPError("no request was sent")
        return HTTPResponse(self.sock, self._method)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class HTTPResponse:
    """Status, headers, and a body read incrementally (pull progress and logs -f stream)."""

    def __init__(self, sock: _socket.socket, method: str) -> None:
        self._sock = sock
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                raise ConnectionResetError("the daemon closed the connection without answering")
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise HTTPError(f"malformed status line: {status_line!r}")
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._remaining: int | None = None  # bytes left: whole body, or current chunk
        self._done = False
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._done = True
        elif not self._chunked and "content-length" in self.headers:
            self._remaining = int(self.headers["content-length"])
            self._done = self._remaining == 0
        self._chunk_started = False

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def _fill(self) -> bool:
        data = self._sock.recv(_READ_SIZE)
        if not data:
            return False
        self._buffer += data
        return True

    def _take(self, size: int) -> bytes:
        if not self._buffer and not self._fill():
            return b""
        piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return piece

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            if not self._fill():
                raise HTTPError("chunked body ended early")
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def read1(self, size: int = _READ_SIZE) -> bytes:
        """Up to `size` bytes of body, blocking only if none are buffered; b"" at the end."""
        if self._done:
            return b""
        if self._chunked:
            return self._read_chunked(size)
        if self._remaining is None:
            piece = self._take(size)
            self._done = not piece
            return piece
        piece = self._take(min(size, self._remaining))
        if not piece:
            raise HTTPError("body ended before Content-Length")
        self._remaining -= len(piece)
        self._done = self._remaining == 0
        return piece

    def _read_chunked(self, size: int) -> bytes:
        if not self._remaining:
            if self._chunk_started:
                self._line()  # the CRLF closing the previous chunk's data
            size_line = self._line().split(b";", 1)[0].strip()
            try:
                self._remaining = int(size_line, 16)
            except ValueError:
                raise HTTPError(f"bad chunk size {size_line!r}") from None
            self._chunk_started = True
            if self._remaining == 0:
                while self._line():  # trailers end with an empty line
                    pass
                self._done = True
                return b""
        piece = self._take(min(size, self._remaining))
        if not piece:
            raise HTTPError("chunked body ended early")
        self._remaining -= len(piece)
        return piece

    def read(self) -> bytes:
        parts = []
        while piece := self.read1():
            parts.append(piece)
        return b"".join(parts)
