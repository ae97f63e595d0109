"""Docker's stream framings: the 8-byte multiplexed header and JSON message streams."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator

STDIN = 0
STDOUT = 1
STDERR = 2
SYSTEMERR = 3

_HEADER = struct.Struct(">BxxxL")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class FrameDemuxer:
    """Splits a multiplexed stream into (stream type, payload) frames.

    Bytes arrive in arbitrary pieces from a socket, so a frame may span many
    feeds; the partial tail is kept until the rest arrives.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        while len(self._buffer) >= _HEADER.size:
            stream, length = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append((stream, bytes(self._buffer[_HEADER.size : end])))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still waiting for the rest."""
        return len(self._buffer)


def frame(stream: int, payload: bytes) -> bytes:
    """One multiplexed frame (used by tests and by anything that writes the framing)."""
    return _HEADER.pack(stream, len(payload)) + payload


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    demuxer = FrameDemuxer()
    for chunk in chunks:
        yield from demuxer.feed(chunk)


def json_messages(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Decode a stream of concatenated JSON values (newline separated or not)."""
    decoder = json.JSONDecoder()
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode("utf-8", "replace")
        while True:
            stripped = buffer.lstrip()
            if not stripped:
                buffer = ""
                break
            try:
                value, end = decoder.raw_decode(stripped)
            except ValueError:
                buffer = stripped
                break
            buffer = stripped[end:]
            yield value
    if buffer.strip():
        raise ValueError(f"truncated JSON message in stream: {buffer[:80]!r}")
