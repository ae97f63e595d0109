"""One connection to a shim's socket, and the error a request ends with."""

from __future__ import annotations

import json
import socket
from typing import Any, Generic, TypeVar

from ketch.shim import frames


class RequestError(Exception):
    """A request the shim refuses or fails; `kind` tells the client which error kind it is."""

    def __init__(self, message: str, kind: str = "internal", exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.exit_code = exit_code


# The process a client attaches to or waits on (process.Process): a type parameter,
# because process.py keeps its clients and so imports this module.
P = TypeVar("P")


class Client(Generic[P]):
    """One connection to the shim socket: control requests, then maybe attach or a wait."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = frames.FrameDecoder()
        self.outbuf = bytearray()
        self.process: P | None = None
        self.streams: set[str] = set()
        self.has_stdin = False
        self.closing = False
        self.closed = False

    def send(self, frame_type: int, payload: bytes) -> None:
        self.outbuf += frames.encode(frame_type, payload)

    def reply(self, message: dict[str, Any]) -> None:
        self.send(frames.CONTROL, json.dumps(message).encode())
