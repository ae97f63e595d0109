"""Turn the daemon's error responses into ketch's error kinds."""

from __future__ import annotations

from ketch import errors
from ketch.client.jsontext import loads

_KIND_BY_STATUS: dict[int, type[errors.KetchError]] = {
    304: errors.NotModified,
    400: errors.InvalidArgument,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    501: errors.NotImplementedYet,
    503: errors.Unavailable,
}


class DaemonUnreachable(errors.Unavailable):
    """The socket could not be reached at all: no daemon answered."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"Cannot connect to the ketch daemon at {host}. Is the ketch daemon running?"
        )
        self.host = host


def api_error(status: int, body: bytes) -> errors.KetchError:
    """The error kind for an HTTP error status, carrying the daemon's own message."""
    kind = _KIND_BY_STATUS.get(status, errors.Internal)
    message = _message_of(body) or f"status {status}"
    error = kind(message)
    error.status = status
    error.from_daemon = True  # type: ignore[attr-defined]
    return error


def is_from_daemon(error: BaseException) -> bool:
    return bool(getattr(error, "from_daemon", False))


def _message_of(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return ""
    try:
        decoded = loads(text)
    except ValueError:
        return text
    message = decoded.get("message") if isinstance(decoded, dict) else None
    return message if isinstance(message, str) else text
