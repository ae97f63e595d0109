from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.testing.daemon import Daemon, run_daemon

pytestmark = pytest.mark.integration


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = run_daemon(tmp_path, mirrors=["http://127.0.0.1:5999"], insecure=["127.0.0.1:5999"])
    try:
        yield d
    finally:
        d.stop()


def test_ping_version_info_through_the_docker_sdk(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.url, version="auto")
    try:
        assert client.ping() is True
        assert client.api.api_version == "1.45"
        version = client.version()
        assert version["ApiVersion"] == "1.45" and version["Os"] == "linux"
        info = client.info()
        assert info["Driver"] == "overlay2"
        assert info["CgroupDriver"] == "cgroupfs"
        assert info["DockerRootDir"] == str(daemon.data_root)
        assert info["RegistryConfig"]["Mirrors"] == ["http://127.0.0.1:5999/"]
        assert info["RegistryConfig"]["IndexConfigs"]["127.0.0.1:5999"]["Secure"] is False
        assert info["Containers"] == 0 and info["NCPU"] >= 1 and info["MemTotal"] > 0
    finally:
        client.close()


def test_every_response_carries_api_version_and_server(daemon: Daemon) -> None:
    api = docker.APIClient(base_url=daemon.url, version="1.45")
    try:
        head = api.head(api._url("/_ping"))
        assert head.headers["Api-Version"] == "1.45"
        assert head.headers["Server"].startswith("Ketch/")
        assert head.headers["Ostype"] == "linux"
        missing = api.get(api.base_url + "/v1.45/no/such/route")
        assert missing.status_code == 404
        assert missing.json() == {"message": "page not found"}
        assert missing.headers["Api-Version"] == "1.45"
        streamed = api.post(api.base_url + "/v1.45/images/create?fromImage=x&fromSrc=-",
                            data=b"not a tar")  # fmt: skip
        assert streamed.headers["Api-Version"] == "1.45"
        events = api.get(api.base_url + "/v1.45/events", params={"since": 1, "until": 2})
        assert events.status_code == 200 and events.headers["Api-Version"] == "1.45"
        too_new = api.get(api.base_url + "/v1.99/version")
        assert too_new.status_code == 400
        assert "Maximum supported API version is 1.50" in too_new.json()["message"]
    finally:
        api.close()


def test_the_docker_cli_talks_to_ketchd(daemon: Daemon) -> None:
    out = subprocess.run(
        ["docker", "-H", daemon.url, "version", "--format", "{{.Server.APIVersion}}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1.45"


def test_a_second_ketchd_on_the_same_root_is_refused(daemon: Daemon) -> None:
    second = subprocess.run(daemon.args(), capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert "already" in second.stderr and str(daemon.pid) in second.stderr
    assert daemon.process.poll() is None


def test_a_second_ketchd_on_the_same_data_root_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    args = daemon.args()
    other_exec_root = tmp_path / "other-run"
    args[args.index("--exec-root") + 1] = str(other_exec_root)
    args[args.index("-H") + 1] = f"unix://{other_exec_root}/k.sock"
    second = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert f"already uses {daemon.data_root}" in second.stderr
    assert not (other_exec_root / "ketchd.pid").exists()
    assert daemon.process.poll() is None


def test_sigterm_removes_the_socket_and_exits_zero(daemon: Daemon) -> None:
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=15) == 0
    assert not daemon.socket_path.exists()
    assert not (daemon.exec_root / "ketchd.pid").exists()


def test_flag_also_in_config_file_stops_ketchd(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text('{"debug": true}')
    result = subprocess.run(
        [sys.executable, "-m", "ketch.daemon", "--config-file", str(config), "--debug",
         "--data-root", str(tmp_path / "d"), "--exec-root", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert "specified both as a flag and in the configuration file" in result.stderr
    assert not (tmp_path / "r").exists()


def test_serves_tcp_on_loopback_too(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    d = run_daemon(tmp_path, extra_args=["-H", f"tcp://127.0.0.1:{port}"])
    try:
        client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{port}", version="1.45")
        assert client.ping() is True
        assert client.version()["ApiVersion"] == "1.45"
        client.close()
    finally:
        d.stop()


def test_sigterm_with_open_streams_exits_promptly(daemon: Daemon) -> None:
    import threading
    import time

    api = docker.APIClient(base_url=daemon.url, version="1.45", timeout=30)
    stream = api.events(decode=True)  # stays open: nothing happens
    reader = threading.Thread(target=lambda: list(stream), daemon=True)
    reader.start()
    time.sleep(0.2)
    started = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=15) == 0
    assert time.monotonic() - started < 5
    reader.join(5)
    assert not reader.is_alive()  # the client saw its stream end
    api.close()


def test_start_drops_day_old_partial_downloads_but_not_fresh_or_held_ones(
    daemon: Daemon,
) -> None:
    from ketch.content import ContentStore
    from ketch.oci.digest import sha256_digest

    store = ContentStore(daemon.data_root / "content")
    old, fresh, held = (sha256_digest(name) for name in (b"old", b"fresh", b"held"))
    for digest in (old, fresh, held):
        with store.writer(digest) as ingest:
            ingest.write(b"partial")
    two_days_ago = time.time() - 2 * 24 * 3600
    for digest in (old, held):
        os.utime(store.root / "ingest" / digest.removeprefix("sha256:"), (two_days_ago,) * 2)
    daemon.terminate()
    pulling = store.writer(held)  # as a pull would hold it (here, from another process)
    try:
        daemon.restart()
    finally:
        pulling.close()
    assert store.ingest_offset(old) == 0
    assert store.ingest_offset(fresh) == len(b"partial")
    assert store.ingest_offset(held) == len(b"partial")
    assert "removed 1 partial download(s)" in daemon.log()
