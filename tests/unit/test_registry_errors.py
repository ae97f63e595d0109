"""Connection failures in Go's words, as dockerd prints them (clients show them as they are)."""

from __future__ import annotations

import errno
import socket

import aiohttp
from aiohttp.client_reqrep import ConnectionKey

from ketch import errors
from ketch.registry.client import _connection_error


def connector_error(os_error: OSError) -> aiohttp.ClientConnectorError:
    key = ConnectionKey("registry.example", 443, True, True, None, None, None, None)
    return aiohttp.ClientConnectorError(key, os_error)


def test_refused_connection() -> None:
    error = _connection_error(
        "GET", "https://registry.example/v2/", connector_error(ConnectionRefusedError(
            errno.ECONNREFUSED, "Connect call failed"))
    )  # fmt: skip
    assert isinstance(error, errors.Unavailable)
    assert error.message == (
        'Get "https://registry.example/v2/": dial tcp registry.example:443: '
        "connect: connection refused"
    )


def test_a_name_that_does_not_resolve_is_no_such_host() -> None:
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    error = _connection_error("GET", "https://registry.example/v2/", connector_error(gai))
    assert error.message == (
        'Get "https://registry.example/v2/": dial tcp: lookup registry.example: no such host'
    )


def test_other_resolver_failures_keep_their_reason() -> None:
    gai = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    error = _connection_error("GET", "https://registry.example/v2/", connector_error(gai))
    assert error.message == (
        'Get "https://registry.example/v2/": dial tcp: lookup registry.example: '
        "temporary failure in name resolution"
    )
