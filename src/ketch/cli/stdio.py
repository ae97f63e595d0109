"""Moving bytes between the local stdio and a hijacked attach/exec connection."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from ketch.cli.detachkeys import DetachWatcher
from ketch.client import HijackedConnection
from ketch.client.streams import STDERR, FrameDemuxer


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def start_stdin_pump(
    conn: HijackedConnection,
    stdin_fd: int = 0,
    detach_keys: bytes | None = None,
    on_detach: Callable[[], None] | None = None,
) -> threading.Thread:
    """Copy local stdin to the connection; on EOF half-close so the container sees EOF.

    With `detach_keys` (a terminal session), typing them calls `on_detach`
    instead of sending them. A daemon thread, so a read still blocked on the
    terminal does not keep the CLI alive after the container has exited.
    """
    watcher = DetachWatcher(detach_keys) if detach_keys else None

    def pump() -> None:
        try:
            while True:
                data = os.read(stdin_fd, 32768)
                if not data:
                    break
                if watcher is not None:
                    data, detached = watcher.feed(data)
                    if data:
                        conn.sendall(data)
                    if detached:
                        if on_detach is not None:
                            on_detach()
                        return
                    continue
                conn.sendall(data)
        except OSError:
            return
        conn.close_write()

    thread = threading.Thread(target=pump, name="stdin", daemon=True)
    thread.start()
    return thread


def copy_output(
    conn: HijackedConnection, *, tty: bool, stdout_fd: int = 1, stderr_fd: int = 2
) -> None:
    """Copy the container's output until the daemon closes the stream.

    With a TTY the stream is raw bytes; without, it is multiplexed frames.
    """
    demuxer = None if tty else FrameDemuxer()
    while True:
        try:
            data = conn.recv(65536)
        except (ConnectionResetError, OSError):
            return
        if not data:
            return
        if demuxer is None:
            write_all(stdout_fd, data)
            continue
        for stream, payload in demuxer.feed(data):
            write_all(stderr_fd if stream == STDERR else stdout_fd, payload)
