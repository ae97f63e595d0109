"""GET /containers/{id}/attach/ws against a real ketchd: stdin in, raw output out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import docker
import pytest

from ketch.testing.daemon import Daemon
from ketch.testing.sdk import sdk_client

pytestmark = pytest.mark.integration
LABELS = {"ketch-test-attach-ws": "1"}


@pytest.fixture
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    with sdk_client(ketchd, next(iter(LABELS))) as client:
        yield client


async def _exchange(
    ketchd: Daemon, path: str, send: bytes | None, count: int
) -> list[tuple[aiohttp.WSMsgType, bytes | str]]:
    """Connect, send `send` (if any), and collect `count` data messages or until closed."""
    connector = aiohttp.UnixConnector(path=str(ketchd.socket_path))
    received: list[tuple[aiohttp.WSMsgType, bytes | str]] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.ws_connect(f"http://localhost{path}") as ws:
            if send is not None:
                await ws.send_bytes(send)
            while len(received) < count:
                message = await asyncio.wait_for(ws.receive(), timeout=20)
                if message.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    break
                received.append((message.type, message.data))
    return received


def test_stdin_goes_in_and_the_raw_output_comes_back_as_binary_frames(
    client: docker.DockerClient, ketchd: Daemon
) -> None:
    container = client.containers.run("busybox", ["cat"], detach=True, stdin_open=True,
                                      labels=LABELS)  # fmt: skip
    path = f"/v1.45/containers/{container.id}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1"
    received = asyncio.run(_exchange(ketchd, path, b"over the socket\n", 1))
    assert received == [(aiohttp.WSMsgType.BINARY, b"over the socket\n")]  # no frame header


def test_logs_of_an_exited_container_and_text_frames_for_old_clients(
    client: docker.DockerClient, ketchd: Daemon
) -> None:
    container = client.containers.run("busybox", ["echo", "said before"], detach=True,
                                      labels=LABELS)  # fmt: skip
    container.wait(timeout=30)
    new = asyncio.run(_exchange(
        ketchd, f"/v1.45/containers/{container.id}/attach/ws?logs=1&stdout=1", None, 5))
    assert new == [(aiohttp.WSMsgType.BINARY, b"said before\n")]
    old = asyncio.run(_exchange(
        ketchd, f"/v1.41/containers/{container.id}/attach/ws?logs=1&stdout=1", None, 5))
    assert old == [(aiohttp.WSMsgType.TEXT, "said before\n")]


def test_an_unknown_container_is_a_404_before_any_upgrade(ketchd: Daemon) -> None:
    async def attempt() -> int:
        connector = aiohttp.UnixConnector(path=str(ketchd.socket_path))
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                async with session.ws_connect("http://localhost/containers/nope/attach/ws"):
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert asyncio.run(attempt()) == 404
