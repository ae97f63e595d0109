"""relay_output between two real socket pairs: frames in, Docker's stream out."""

from __future__ import annotations

import asyncio
import socket

from ketch.shim import frames
from ketch.shim.client import relay_output


async def relay(data: bytes, tty: bool, stderr: bool = True) -> tuple[bytes, int | None]:
    shim_side, service_side = socket.socketpair()
    http_side, client_side = socket.socketpair()
    shim_side.sendall(data)
    shim_side.close()
    reader, _ = await asyncio.open_connection(sock=service_side)
    _, writer = await asyncio.open_connection(sock=http_side)
    code = await relay_output(reader, writer, tty, stderr=stderr)
    writer.close()
    await writer.wait_closed()
    client_side.settimeout(5)
    received = b""
    while chunk := client_side.recv(65536):
        received += chunk
    client_side.close()
    return received, code


OUTPUT = (
    frames.encode(frames.STDOUT, b"out\n")
    + frames.encode(frames.STDERR, b"err\n")
    + frames.encode(frames.EXIT, b"3")
)


def test_non_tty_frames_pass_through_as_dockers_multiplexed_stream() -> None:
    received, code = asyncio.run(relay(OUTPUT, tty=False))
    assert received == frames.encode(1, b"out\n") + frames.encode(2, b"err\n")
    assert code == 3


def test_tty_output_goes_raw_and_unwanted_streams_are_dropped() -> None:
    assert asyncio.run(relay(OUTPUT, tty=True)) == (b"out\nerr\n", 3)
    assert asyncio.run(relay(OUTPUT, tty=True, stderr=False)) == (b"out\n", 3)


def test_a_shim_gone_without_exit_frame_gives_none() -> None:
    received, code = asyncio.run(relay(frames.encode(frames.STDOUT, b"x"), tty=True))
    assert (received, code) == (b"x", None)
