"""Frames on a shim socket: an 8-byte header `[type, 0, 0, 0, length (big-endian u32)]`.

Types 1 and 2 are laid out exactly as Docker's multiplexed attach stream, so
a non-tty attach can be relayed to an HTTP client without re-framing.
"""

from __future__ import annotations

import struct

STDIN = 0
STDOUT = 1
STDERR = 2
CLOSE_STDIN = 3
RESIZE = 4
EXIT = 5
CONTROL = 6

HEADER = struct.Struct(">B3xI")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 16 * 1024 * 1024


class FrameError(ValueError):
    """A peer sent a header this protocol does not have."""


def encode(frame_type: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(frame_type, len(payload)) + payload


def decode_header(header: bytes) -> tuple[int, int]:
    frame_type, length = HEADER.unpack(header)
    if frame_type > CONTROL or header[1:4] != b"\0\0\0":
        raise FrameError(f"bad frame header {header.hex()}")
    if length > MAX_PAYLOAD:
        raise FrameError(f"frame of {length} bytes is larger than {MAX_PAYLOAD}")
    return frame_type, length


class FrameDecoder:
    """Turns a byte stream, fed in arbitrary pieces, into (type, payload) frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER_SIZE:
            frame_type, length = decode_header(bytes(self._buffer[:HEADER_SIZE]))
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            frames.append((frame_type, bytes(self._buffer[HEADER_SIZE:end])))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buffer)
