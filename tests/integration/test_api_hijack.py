"""The hijacked stream over a real Unix socket, as the docker CLI and docker-py use it."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from ketch.api import streams
from ketch.api.hijack import hijack, use_upgrade_aware_parser

pytestmark = pytest.mark.integration


async def echo(request: web.Request) -> web.StreamResponse:
    """Reads a JSON body, then echoes stdin framed as stdout until the client's EOF."""
    body = await request.json() if request.can_read_body else {}
    conn = await hijack(request, tty=bool(body.get("Tty")))
    await conn.write(streams.encode(1, b"hello\n", tty=bool(body.get("Tty"))))
    while data := await conn.read():
        await conn.write(streams.encode(1, data, tty=bool(body.get("Tty"))))
    # After the client's half-close we can still write to it.
    await asyncio.sleep(0.05)
    await conn.write(streams.encode(2, b"bye\n", tty=bool(body.get("Tty"))))
    await conn.close()
    return conn.response


@pytest.fixture
def server() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="kt-hj-", dir="/tmp"))
    path = directory / "api.sock"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        use_upgrade_aware_parser()
        app = web.Application()
        app.router.add_post("/exec/x/start", echo)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.UnixSite(runner, str(path)).start()
        runner_box.append(runner)
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    try:
        assert ready.wait(10)
        yield path
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if runner_box:
            loop.run_until_complete(runner_box[0].cleanup())
        loop.close()
        path.unlink(missing_ok=True)
        directory.rmdir()


def request(path: Path, body: dict, upgrade: bool) -> socket.socket:
    raw = json.dumps(body).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(path))
    upgrade_headers = (
        "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else "Connection: close\r\n"
    )
    sock.sendall(
        (
            f"POST /exec/x/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"{upgrade_headers}Content-Length: {len(raw)}\r\n\r\n"
        ).encode()
        + raw
    )
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_upgraded_stream_survives_the_clients_half_close(server: Path) -> None:
    sock = request(server, {"Tty": False}, upgrade=True)
    with sock:
        sock.sendall(b"ping")  # before the 101 arrives, as a fast client may
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
        assert b"Content-Type: application/vnd.docker.multiplexed-stream" in head
        assert b"Upgrade: tcp" in head
        sock.shutdown(socket.SHUT_WR)
        frames, rest = streams.parse_frames(read_all(sock))
    assert rest == b""
    assert frames == [(1, b"hello\n"), (1, b"ping"), (2, b"bye\n")]


def read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return head


def test_tty_stream_is_raw(server: Path) -> None:
    sock = request(server, {"Tty": True}, upgrade=True)
    with sock:
        head = read_head(sock)
        sock.sendall(b"abc")
        sock.shutdown(socket.SHUT_WR)
        body = read_all(sock)
    assert b"application/vnd.docker.raw-stream" in head
    assert body == b"hello\nabcbye\n"


def test_without_upgrade_the_stream_comes_as_a_200_response(server: Path) -> None:
    sock = request(server, {"Tty": False}, upgrade=False)
    with sock:
        # stdin is the request body alone: it has ended, so the echo loop ends too
        data = read_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Transfer-Encoding: chunked" in head
    decoded = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        decoded += body[:size]
        body = body[size + 2 :]
    frames, _ = streams.parse_frames(decoded)
    assert frames == [(1, b"hello\n"), (2, b"bye\n")]
