"""The error a shim's setup ends with, as the fork server reports it to the daemon."""

from __future__ import annotations


class RequestError(Exception):
    """A request the shim refuses or fails; `kind` tells the client which error kind it is."""

    def __init__(self, message: str, kind: str = "internal", exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.exit_code = exit_code
