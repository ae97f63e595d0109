"""Engine API client over the Unix socket, for the CLI."""

from ketch.client.api import API_VERSION, Client, Response, default_host
from ketch.client.errors import DaemonUnreachable, is_from_daemon
from ketch.client.transport import DEFAULT_HOST, HijackedConnection

__all__ = [
    "API_VERSION",
    "DEFAULT_HOST",
    "Client",
    "DaemonUnreachable",
    "HijackedConnection",
    "Response",
    "default_host",
    "is_from_daemon",
]
