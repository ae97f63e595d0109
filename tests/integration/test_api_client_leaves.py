"""A client that hangs up mid-stream is not an error of the daemon's."""

from __future__ import annotations

import socket
import time

from ketch.testing.daemon import Daemon


def test_a_client_leaving_a_stream_logs_no_traceback(ketchd: Daemon) -> None:
    import docker

    client = docker.APIClient(base_url=ketchd.url, version="1.45")
    client.pull("busybox", tag="latest")
    container = client.create_container(
        "busybox", ["sh", "-c", "while :; do echo tick; sleep 0.01; done"]
    )["Id"]
    try:
        client.start(container)
        for _ in range(5):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(ketchd.socket_path))
                sock.sendall(
                    f"GET /v1.45/containers/{container}/logs?follow=1&stdout=1 HTTP/1.1\r\n"
                    "Host: ketch\r\n\r\n".encode()
                )
                assert sock.recv(100).startswith(b"HTTP/1.1 200")
            # Hung up while ketchd keeps writing log lines to it.
        time.sleep(0.3)
        assert client.ping() is True
        assert "Traceback" not in ketchd.log()
    finally:
        client.remove_container(container, force=True)
        client.close()
