from __future__ import annotations

import pytest

from ketch.errors import InvalidArgument


def test_tcp_hosts_parse_as_dockerd_reads_them() -> None:
    from ketch.api.server import tcp_address, unix_socket_path

    assert tcp_address("tcp://127.0.0.1:2376") == ("127.0.0.1", 2376)
    assert tcp_address("tcp://127.0.0.1") == ("127.0.0.1", 2375)
    assert tcp_address("tcp://[::1]:2375") == ("::1", 2375)
    with pytest.raises(InvalidArgument):
        tcp_address("tcp://example.com:2375")
    with pytest.raises(InvalidArgument, match="ketchd serves unix:// and tcp://"):
        unix_socket_path("fd://")


def test_platform_and_pull_reference() -> None:
    from ketch.api.images import parse_platform, pull_reference

    assert parse_platform("linux/arm64/v8") == {"os": "linux", "architecture": "arm64",
                                                 "variant": "v8"}  # fmt: skip
    assert parse_platform("") is None
    with pytest.raises(InvalidArgument):
        parse_platform("linux")
    assert pull_reference("busybox", "1.36") == "busybox:1.36"
    assert pull_reference("busybox", "sha256:" + "a" * 64) == "busybox@sha256:" + "a" * 64
    assert pull_reference("busybox:x", "") == "busybox:x"
