"""Docker's stream framing: 8-byte headers for multiplexed streams, raw for TTYs."""

from __future__ import annotations

import struct

STDIN = 0
STDOUT = 1
STDERR = 2

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"

_HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    """One multiplexed frame: [stream, 0, 0, 0, size (big-endian u32)] + payload."""
    return _HEADER.pack(stream, len(data)) + data


def encode(stream: int, data: bytes, tty: bool) -> bytes:
    """A TTY carries one merged stream with no headers; otherwise frame it."""
    if tty:
        return data
    return frame(stream, data)


def parse_frames(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split complete frames off the front of buffer; return them and the rest."""
    frames: list[tuple[int, bytes]] = []
    offset = 0
    while len(buffer) - offset >= _HEADER.size:
        stream, size = _HEADER.unpack_from(buffer, offset)
        end = offset + _HEADER.size + size
        if end > len(buffer):
            break
        frames.append((stream, buffer[offset + _HEADER.size : end]))
        offset = end
    return frames, buffer[offset:]
