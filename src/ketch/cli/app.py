"""What every command handler gets: the daemon client, the output streams, error printing."""

from __future__ import annotations

import sys

from ketch.cli.flags import Command, Parsed
from ketch.client import Client

# typing and collections.abc are kept off the import path (they cost milliseconds per
# command); annotations are strings here, so the names are needed by checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    Handler = Callable[["Cli", Parsed], int]

PROGRAM = "ketch"


class ExitStatus(Exception):
    """Leave the command with this status after the message (if any) is printed."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Cli:
    def __init__(
        self,
        host: str | None = None,
        debug: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.host = host
        self.debug = debug
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.host)
        return self._client

    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def err(self, text: str = "") -> None:
        self.stderr.write(text + "\n")

    def flush(self) -> None:
        self.stdout.flush()
        self.stderr.flush()


class Entry:
    """A command's grammar and the function that runs it."""

    __slots__ = ("command", "handler")

    def __init__(self, command: Command, handler: Handler) -> None:
        self.command = command
        self.handler = handler


def daemon_error_text(error: BaseException) -> str:
    """How docker words an error: the daemon's own errors say where they came from."""
    from ketch.client.errors import DaemonUnreachable, is_from_daemon

    if isinstance(error, DaemonUnreachable):
        return error.message
    message = getattr(error, "message", str(error))
    if is_from_daemon(error):
        return f"Error response from daemon: {message}"
    return message
