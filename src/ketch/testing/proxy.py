"""A TCP proxy between ketchd and a registry that can break a blob download on purpose.

For each client connection it relays bytes both ways in threads. When a request
for a chosen blob goes through, the response is counted: after `cut_after`
bytes the proxy drops the connection (`mode="drop"`), first calls `on_cut`
(`mode="kill"`, e.g. to kill the registry), or stops relaying and holds the
connection open (`mode="stall"`) until `release()`, then drops it.
Requests are recorded so a test can see a resumed download's Range header.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from ketch.testing.registry import free_port


@dataclass
class _Watch:
    """One connection's count of the chosen blob's bytes sent down it so far."""

    counting: bool = False
    sent: int = 0


class BreakingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.target: str | None = None  # a blob digest whose download is broken
        self.cut_after = 0
        self.mode = "drop"
        self.on_cut: Callable[[], None] | None = None
        self.requests: list[bytes] = []
        self.cut = threading.Event()  # set once a download was broken
        self._released = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self._released.set()
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with suppress(OSError):
                    sock.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()  # the registry is gone: refuse as it would
                continue
            with self._lock:
                self._sockets += [client, upstream]
            state = _Watch()
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, state: _Watch) -> None:
        with suppress(OSError):
            while data := client.recv(65536):
                self.requests.append(data)
                if self.target and f"/blobs/{self.target}".encode() in data:
                    state.counting, state.sent = True, 0
                upstream.sendall(data)
        with suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _down(self, upstream: socket.socket, client: socket.socket, state: _Watch) -> None:
        with suppress(OSError):
            while data := upstream.recv(65536):
                if state.counting and self.target:
                    room = self.cut_after - state.sent
                    if room <= len(data):
                        client.sendall(data[:room])
                        state.counting = False
                        self._break(client, upstream)
                        return
                    state.sent += len(data)
                client.sendall(data)
        with suppress(OSError):
            client.shutdown(socket.SHUT_WR)

    def _break(self, client: socket.socket, upstream: socket.socket) -> None:
        self.cut.set()
        if self.mode == "stall":
            self._released.wait()
        if self.mode == "kill" and self.on_cut is not None:
            # The registry dies; what it had already written to its socket is dropped
            # with the connection, so the cut lands at the same byte every run.
            self.on_cut()
        for sock in (client, upstream):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()
