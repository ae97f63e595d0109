"""An attached container session: attach, wait, start, pump stdio, report the exit code.

The order is the docker CLI's: attach and wait are requested before start,
so no output and no exit is missed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from ketch.cli import detachkeys, terminal
from ketch.cli.app import Cli, ExitStatus
from ketch.cli.stdio import copy_output, start_stdin_pump
from ketch.errors import KetchError


class Streams:
    """Which of the container's streams a session carries.

    A plain class: dataclasses would pull `inspect` and `ast` into the start-up
    of every `ketch run`.
    """

    __slots__ = ("stdin", "stdout", "stderr")

    def __init__(self, stdin: bool, stdout: bool, stderr: bool) -> None:
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Streams) and (self.stdin, self.stdout, self.stderr) == (
            other.stdin, other.stdout, other.stderr)  # fmt: skip

    def __repr__(self) -> str:
        return f"Streams(stdin={self.stdin}, stdout={self.stdout}, stderr={self.stderr})"

    @property
    def any(self) -> bool:
        return self.stdin or self.stdout or self.stderr


def resize_tty(cli: Cli, path: str, fd: int = 1) -> None:
    """POST <path>/resize with the local terminal's size; ignored when there is none."""
    dimensions = terminal.size(fd)
    if dimensions is None:
        return
    height, width = dimensions
    with contextlib.suppress(KetchError, OSError):
        cli.client.request("POST", f"{path}/resize", params={"h": height, "w": width}).read()


def forward_signal(cli: Cli, container_id: str) -> Callable[[str], None]:
    def forward(name: str) -> None:
        with contextlib.suppress(KetchError, OSError):
            cli.client.request(
                "POST", f"/containers/{container_id}/kill", params={"signal": name}
            ).read()

    return forward


def detach_key_bytes(text: str | None) -> bytes:
    try:
        return detachkeys.parse(text or detachkeys.DEFAULT)
    except ValueError as error:
        raise ExitStatus(1, f"invalid detach keys ({text}) provided: {error}") from None


def run_attached(
    cli: Cli,
    container_id: str,
    *,
    streams: Streams,
    tty: bool,
    wait_condition: str,
    sig_proxy: bool,
    start: Callable[[], None],
    detach_keys: str | None = None,
) -> int:
    """Attach, start via `start()`, copy stdio until the stream ends; the exit status.

    Typing the detach keys at a terminal leaves the container running and
    returns 0 at once, as the docker CLI does.
    """
    keys = detach_key_bytes(detach_keys)
    client = cli.client
    conn = None
    if streams.any:
        conn = client.hijack(
            "POST",
            f"/containers/{container_id}/attach",
            params={
                "stream": True,
                "stdin": streams.stdin,
                "stdout": streams.stdout,
                "stderr": streams.stderr,
            },
        )
    waiter = client.send(
        "POST", f"/containers/{container_id}/wait", params={"condition": wait_condition}
    )
    with contextlib.ExitStack() as stack:
        # Raw mode and the signal proxy come before start, so no early key
        # or signal is lost; the size can only be set once the TTY exists.
        if tty and streams.stdin:
            stack.enter_context(terminal.raw_mode(0))
        elif not tty and sig_proxy:
            stack.enter_context(terminal.forwarding_signals(forward_signal(cli, container_id)))
        try:
            start()
        except BaseException:
            waiter.close()
            if conn is not None:
                conn.close()
            raise
        cli.flush()
        if tty:
            resize_tty(cli, f"/containers/{container_id}")
            stack.enter_context(
                terminal.on_resize(lambda: resize_tty(cli, f"/containers/{container_id}"))
            )
        detached = threading.Event()
        if conn is not None:

            def on_detach() -> None:
                detached.set()
                conn.shutdown()

            with conn:
                if streams.stdin:
                    start_stdin_pump(conn, detach_keys=keys if tty else None, on_detach=on_detach)
                copy_output(conn, tty=tty)
        if detached.is_set():
            waiter.close()
            return 0
        result = waiter.response().json() or {}
    error = (result.get("Error") or {}).get("Message")
    if error:
        cli.err(f"Error: {error}")
    return int(result.get("StatusCode", 0))
