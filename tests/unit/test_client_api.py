"""The client against a real Unix-socket HTTP server: errors, streams, hijack, no daemon."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ketch import errors
from ketch.client import Client, DaemonUnreachable, is_from_daemon
from ketch.client.api import encode_params

Reply = Callable[[bytes, socket.socket], None]
Server = tuple[str, list[bytes], list[Reply]]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A one-connection-at-a-time server; tests queue replies and read the requests."""
    path = tmp_path / "d.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    requests: list[bytes] = []
    replies: list[Reply] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(body) < length:
                    body += conn.recv(65536)
                requests.append(head + b"\r\n\r\n" + body)
                replies.pop(0)(body, conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}", requests, replies
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)


def respond(status: int, body: bytes, content_type: str = "application/json") -> Reply:
    def reply(_request: bytes, conn: socket.socket) -> None:
        conn.sendall(
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    return reply


def test_json_request_and_versioned_path(server: Server) -> None:
    url, requests, replies = server
    replies.append(respond(201, b'{"Id": "abc", "Warnings": []}'))
    answer = Client(url).post("/containers/create", {"name": "web"}, {"Image": "busybox"})
    assert answer == {"Id": "abc", "Warnings": []}
    head, _, body = requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1.45/containers/create?name=web HTTP/1.1")
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == {"Image": "busybox"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.InvalidArgument),
        (401, errors.Unauthorized),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (500, errors.Internal),
        (503, errors.Unavailable),
    ],
)
def test_error_statuses_become_error_kinds(server: Server, status: int, kind: type) -> None:
    url, _, replies = server
    replies.append(respond(status, b'{"message": "No such container: x"}'))
    with pytest.raises(kind) as caught:
        Client(url).get("/containers/x/json")
    assert caught.value.message == "No such container: x"
    assert is_from_daemon(caught.value)


def test_plain_text_error_body_is_the_message(server: Server) -> None:
    url, _, replies = server
    replies.append(respond(404, b"page not found", "text/plain"))
    with pytest.raises(errors.NotFound, match="^page not found$"):
        Client(url).get("/nope")


def test_chunked_json_stream(server: Server) -> None:
    url, _, replies = server

    def chunked(_request: bytes, conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for part in (b'{"status":"a"}\r\n{"sta', b'tus":"b"}\r\n'):
            conn.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        conn.sendall(b"0\r\n\r\n")

    replies.append(chunked)
    messages = list(Client(url).request("POST", "/images/create").json_messages())
    assert messages == [{"status": "a"}, {"status": "b"}]


def test_hijack_upgrades_and_carries_bytes_both_ways(server: Server) -> None:
    url, requests, replies = server

    def upgrade(_request: bytes, conn: socket.socket) -> None:
        # The first output bytes travel in the same packet as the 101 headers.
        conn.sendall(
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker."
            b"raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly "
        )
        received = b""
        while True:
            data = conn.recv(1024)
            if not data:
                break
            received += data
        conn.sendall(b"echo:" + received)

    replies.append(upgrade)
    conn = Client(url).hijack("POST", "/containers/x/attach", params={"stream": True})
    with conn:
        conn.sendall(b"typed")
        conn.close_write()
        output = b""
        while chunk := conn.recv():
            output += chunk
    assert output == b"early echo:typed"
    head = requests[0].split(b"\r\n\r\n")[0]
    assert b"Connection: Upgrade" in head and b"Upgrade: tcp" in head
    assert head.startswith(b"POST /v1.45/containers/x/attach?stream=1 ")


def test_hijack_error_is_raised(server: Server) -> None:
    url, _, replies = server
    replies.append(respond(409, b'{"message": "container x is not running"}'))
    with pytest.raises(errors.Conflict, match="is not running"):
        Client(url).hijack("POST", "/exec/x/start", body={"Detach": False})


def test_no_daemon_gives_dockers_message(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/absent.sock"
    with pytest.raises(DaemonUnreachable) as caught:
        Client(url).get("/version")
    assert caught.value.message == (
        f"Cannot connect to the ketch daemon at {url}. Is the ketch daemon running?"
    )
    with pytest.raises(DaemonUnreachable):
        Client(url).hijack("POST", "/containers/x/attach")


def test_default_host_comes_from_ketch_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KETCH_HOST", raising=False)
    assert Client().host == "unix:///run/ketch/ketch.sock"
    monkeypatch.setenv("KETCH_HOST", "unix:///somewhere/else.sock")
    assert Client().host == "unix:///somewhere/else.sock"


def test_query_encoding() -> None:
    assert encode_params({"all": True, "size": False, "limit": None, "n": 3}) == "?all=1&size=0&n=3"
    assert encode_params({"filters": {"status": ["exited"]}}) == (
        "?filters=%7B%22status%22%3A%5B%22exited%22%5D%7D"
    )


def raw_reply(*pieces: bytes) -> Reply:
    def reply(_request: bytes, conn: socket.socket) -> None:
        for piece in pieces:
            conn.sendall(piece)

    return reply


@pytest.mark.parametrize(
    "pieces",
    [
        # Body delimited by closing the connection.
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ", b"world"),
        # Chunked, with a chunk extension and a trailer, split mid-size-line.
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6;x=y\r\nhello \r\n",
            b"5\r",
            b"\nworld\r\n0\r\nTrailer: t\r\n\r\n",
        ),
        # Content-Length with bytes after it that belong to nothing.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello", b" worldEXTRA"),
    ],
)
def test_body_framings(server: Server, pieces: tuple[bytes, ...]) -> None:
    url, _, replies = server
    replies.append(raw_reply(*pieces))
    assert Client(url).request("GET", "/x").read() == b"hello world"


def test_no_content(server: Server) -> None:
    url, _, replies = server
    replies.append(raw_reply(b"HTTP/1.1 204 No Content\r\n\r\n"))
    assert Client(url).post("/containers/x/start") is None


def test_request_sent_before_its_answer_is_read(server: Server) -> None:
    url, requests, replies = server
    replies.append(respond(200, b'{"StatusCode": 3}'))
    pending = Client(url).send("POST", "/containers/x/wait", params={"condition": "next-exit"})
    assert pending.response().json() == {"StatusCode": 3}
    assert requests[0].startswith(b"POST /v1.45/containers/x/wait?condition=next-exit ")
