"""Error kinds shared by every layer, with Docker's wording and one status table.

Clients such as docker-py and the docker CLI match on the message text, so
messages keep Docker's exact words ("No such container: x").
"""

from __future__ import annotations

import errno


class KetchError(Exception):
    """Base of every error ketch reports to a user."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(KetchError):
    status = 400


class Unauthorized(KetchError):
    status = 401


class Forbidden(KetchError):
    status = 403


class NotFound(KetchError):
    status = 404


class Conflict(KetchError):
    status = 409


class NotModified(KetchError):
    status = 304


class Unavailable(KetchError):
    status = 503


class NotImplementedYet(KetchError):
    status = 501


class Internal(KetchError):
    status = 500


def no_such_container(name: str) -> NotFound:
    return NotFound(f"No such container: {name}")


def no_such_image(name: str) -> NotFound:
    return NotFound(f"No such image: {name}")


def no_such_exec(exec_id: str) -> NotFound:
    return NotFound(f"No such exec instance: {exec_id}")


# The host's storage failing under ketch: not the request's fault, nor the content's.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


class StorageError(Internal):
    """The host's storage failed (a full disk, a read-only or broken filesystem)."""


def storage_error(exc: OSError, path: object = None, op: str = "write") -> StorageError:
    """An OSError in Go's words, as dockerd reports it: "write /x: no space left on device"."""
    import os  # here: the CLI imports this module, and os costs each command ~1 ms

    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    where = exc.filename or path
    return StorageError(f"{op} {where}: {reason}" if where else reason)


def status_of(error: BaseException) -> int:
    """The HTTP status an error maps to: the one table for the whole API."""
    if isinstance(error, KetchError):
        return error.status
    return 500
