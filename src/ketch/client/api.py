"""`Client`: the Docker Engine API (v1.45) over a Unix socket, for the CLI."""

from __future__ import annotations

from ketch.client import transport
from ketch.client.errors import DaemonUnreachable, api_error
from ketch.client.http11 import HTTPResponse, UnixHTTPConnection
from ketch.client.jsontext import dumps, loads
from ketch.client.transport import HijackedConnection

# typing, collections.abc and the json package are kept off the import path (each costs
# milliseconds of every command); annotations are strings here, so the names are needed
# by checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any

    Params = Mapping[str, Any] | None

API_VERSION = "1.45"


def default_host() -> str:
    return getenv("KETCH_HOST") or transport.DEFAULT_HOST


def getenv(name: str) -> str | None:
    """os.environ.get, without importing os where nothing has (the CLI's launcher starts
    without site, and os costs every command ~1 ms): posix.environ is the environment the
    process started with, which is os.environ until something changes that."""
    import sys

    os_module = sys.modules.get("os")
    if os_module is not None:
        found: str | None = os_module.environ.get(name)
        return found
    import posix

    value = posix.environ.get(name.encode())
    return value.decode("utf-8", "surrogateescape") if value is not None else None


def encode_params(params: Params) -> str:
    """Query string as Docker's clients write it: booleans as 1/0, None left out, lists
    and dicts as JSON, a tuple as the parameter repeated."""
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        elif isinstance(value, tuple):  # a repeated parameter: t=a&t=b
            pairs.extend((name, str(item)) for item in value)
        elif isinstance(value, (dict, list)):
            pairs.append((name, dumps(value, compact=True)))
        else:
            pairs.append((name, str(value)))
    return "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs) if pairs else ""


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _quote(text: str) -> str:
    """Percent-encoding for a query component (urllib.parse costs a few ms to import)."""
    return "".join(
        chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in text.encode("utf-8")
    )


class Response:
    """A successful streaming response; read it with `chunks()` or `json()`."""

    def __init__(self, raw: HTTPResponse, conn: UnixHTTPConnection) -> None:
        self.raw = raw
        self._conn = conn
        self.status = raw.status
        self.content_type = raw.getheader("Content-Type", "") or ""

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        try:
            while True:
                data = self.raw.read1(size)
                if not data:
                    return
                yield data
        finally:
            self.close()

    def read(self) -> bytes:
        try:
            return self.raw.read()
        finally:
            self.close()

    def json(self) -> Any:
        body = self.read()
        return loads(body) if body.strip() else None

    def json_messages(self) -> Iterator[dict[str, Any]]:
        from ketch.client import streams

        return streams.json_messages(self.chunks())

    def close(self) -> None:
        self._conn.close()


class PendingResponse:
    """A request already sent whose response has not been read yet."""

    def __init__(self, conn: UnixHTTPConnection, host: str) -> None:
        self._conn = conn
        self._host = host

    def response(self) -> Response:
        try:
            raw = self._conn.getresponse()
        except (ConnectionResetError, BrokenPipeError) as error:
            self._conn.close()
            raise DaemonUnreachable(self._host) from error
        except BaseException:
            self._conn.close()
            raise
        if raw.status >= 400:
            try:
                raise api_error(raw.status, raw.read())
            finally:
                self._conn.close()
        return Response(raw, self._conn)

    def close(self) -> None:
        self._conn.close()


class Client:
    """One daemon at `host` (`unix:///path`); a new connection per request, as the CLI needs."""

    def __init__(self, host: str | None = None, *, timeout: float | None = None) -> None:
        self.host = host or default_host()
        self.socket_path = transport.socket_path_of(self.host)
        self.timeout = timeout

    def url(self, path: str, params: Params = None) -> str:
        return f"/v{API_VERSION}{path}{encode_params(params)}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | Iterable[bytes] | None = None,
    ) -> Response:
        """Send a request; an error status raises the matching ketch.errors kind. `data`
        given as chunks is streamed (chunked transfer encoding)."""
        return self.send(
            method, path, params=params, body=body, headers=headers, data=data
        ).response()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | Iterable[bytes] | None = None,
    ) -> PendingResponse:
        """Send a request now and read its answer later (wait is sent before start)."""
        all_headers = {"User-Agent": "ketch-cli"}
        if body is not None:
            data = dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)
        conn = transport.UnixHTTPConnection(self.socket_path, timeout=self.timeout)
        try:
            conn.request(method, self.url(path, params), body=data, headers=all_headers)
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as error:
            conn.close()
            raise DaemonUnreachable(self.host) from error
        except (BrokenPipeError, ConnectionResetError):
            # The daemon answered (a refused build) and closed before the whole streamed
            # body was sent: its answer is still there to read.
            if data is None or isinstance(data, bytes) or conn.sock is None:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        return PendingResponse(conn, self.host)

    def get(self, path: str, params: Params = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, params: Params = None, body: Any = None) -> Any:
        return self.request("POST", path, params=params, body=body).json()

    def delete(self, path: str, params: Params = None) -> Any:
        return self.request("DELETE", path, params=params).json()

    def ping(self) -> bool:
        return self.request("GET", "/_ping").read() == b"OK"

    def hijack(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        body: Any = None,
    ) -> HijackedConnection:
        """Ask the daemon to upgrade the connection to a raw stream (attach, exec start)."""
        try:
            sock = transport.open_unix_socket(self.socket_path)
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as error:
            raise DaemonUnreachable(self.host) from error
        try:
            data = dumps(body).encode() if body is not None else b""
            head = [
                f"{method} {self.url(path, params)} HTTP/1.1",
                "Host: localhost",
                "User-Agent: ketch-cli",
                "Connection: Upgrade",
                "Upgrade: tcp",
                f"Content-Length: {len(data)}",
            ]
            if body is not None:
                head.append("Content-Type: application/json")
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
            status, headers, rest = transport.read_head(sock)
            if status >= 400:
                raise api_error(status, transport.read_body(sock, headers, rest))
            # Old daemons answer 200 and then stream raw; both mean "hijacked".
            return HijackedConnection(sock, rest)
        except BaseException:
            sock.close()
            raise
