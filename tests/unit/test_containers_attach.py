from __future__ import annotations

import asyncio
import struct

from ketch.containers.attach import MAX_QUEUED, AttachSession


class Sink:
    """Stands in for the shim side's writer: records what the session sends."""

    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", kind, len(payload)) + payload


def test_output_waits_for_a_slow_client_and_ends_at_exit() -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        for i in range(MAX_QUEUED * 3):
            reader.feed_data(frame(1, f"{i}\n".encode()))
        reader.feed_data(frame(2, b"err\n") + frame(5, b"0"))
        reader.feed_eof()
        sink = Sink()
        session = AttachSession(stdin=True, stdout=True, stderr=False)
        await session.connect(reader, sink)  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert session.output.qsize() == MAX_QUEUED  # held back, not all read into memory
        got = []
        while (item := await session.next_output()) is not None:
            got.append(item)
        assert got == [(1, f"{i}\n".encode()) for i in range(MAX_QUEUED * 3)]  # stderr not asked
        session.send_stdin(b"in")
        session.close_stdin()
        await asyncio.sleep(0.01)
        assert sink.closed

    asyncio.run(run())


def test_stdin_becomes_frames_and_close() -> None:
    async def run() -> bytes:
        reader = asyncio.StreamReader()
        sink = Sink()
        session = AttachSession(stdin=True, stdout=True, stderr=True)
        await session.connect(reader, sink)  # type: ignore[arg-type]
        session.send_stdin(b"abc")
        session.close_stdin()
        await asyncio.sleep(0.01)
        session.close()
        return sink.data

    assert asyncio.run(run()) == frame(0, b"abc") + frame(3, b"")
