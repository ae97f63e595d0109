"""`POST /build`, `/build/prune`, `/session` and the build cache in `/system/df`, on a
real ketchd whose builder is ketch.testing.fakebuilder: what the route hands the builder
(options, the context as sent, the registry auths) and how it streams the answer."""

from __future__ import annotations

import base64
import io
import json
import socket
import tarfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch.api.build import CLIENT_CHECK
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.fakebuilder import Records
from ketch.testing.unixhttp import UnixConnection

pytestmark = pytest.mark.integration

IMAGE_ID = "sha256:" + "ab" * 32


class Builder(Records):
    def __init__(self, directory: Path, daemon: Daemon) -> None:
        super().__init__(directory)
        self.daemon = daemon


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builder]:
    directory = tmp_path_factory.mktemp("fakebuilder")
    daemon = run_daemon(
        tmp_path_factory.mktemp("ketchd"),
        launcher=["-m", "ketch.testing.fakebuilder", str(directory)],
    )
    try:
        yield Builder(directory, daemon)
    finally:
        daemon.stop()


@pytest.fixture(autouse=True)
def fresh_script(builder: Builder) -> None:
    builder.script()


def context_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CONTEXT = context_tar({"Dockerfile": b"FROM busybox\n", "app.txt": b"hello\n"})


def post(
    daemon: Daemon, path: str, query: list[tuple[str, str]] | None = None, body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    conn = UnixConnection(str(daemon.socket_path))
    try:
        target = f"/v1.45{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
        conn.request("POST", target, body=body,
                     headers={"Content-Type": "application/x-tar", **(headers or {})})  # fmt: skip
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_every_query_parameter_reaches_the_builder(builder: Builder) -> None:
    query = [
        ("dockerfile", "sub/Dockerfile.dev"), ("t", "app:1"), ("t", "registry.example/app:2"),
        ("extrahosts", "db:10.0.0.2"), ("extrahosts", "cache:10.0.0.3"), ("q", "0"),
        ("nocache", "1"), ("cachefrom", '["app:0","base"]'), ("pull", "true"), ("rm", "0"),
        ("memory", "67108864"), ("memswap", "-1"), ("cpushares", "512"),
        ("cpusetcpus", "0-1"), ("cpusetmems", "0"), ("cpuperiod", "100000"),
        ("cpuquota", "50000"), ("buildargs", '{"HTTP_PROXY":"http://p","UNSET":null}'),
        ("shmsize", "134217728"), ("labels", '{"team":"core"}'), ("networkmode", "host"),
        ("platform", "linux/amd64"), ("target", "final"),
        ("ulimits", '[{"Name":"nofile","Hard":2048,"Soft":1024}]'), ("version", "1"),
    ]  # fmt: skip
    status, headers, body = post(builder.daemon, "/build", query, CONTEXT)
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert builder.options() == {
        "dockerfile": "sub/Dockerfile.dev", "tags": ["app:1", "registry.example/app:2"],
        "quiet": False, "no_cache": True, "pull": True, "remove": False,
        "force_remove": False, "build_args": {"HTTP_PROXY": "http://p", "UNSET": None},
        "labels": {"team": "core"}, "target": "final", "network_mode": "host",
        "extra_hosts": ["db:10.0.0.2", "cache:10.0.0.3"], "shm_size": 134217728,
        "memory": 67108864, "memory_swap": -1, "cpu_shares": 512, "cpu_period": 100000,
        "cpu_quota": 50000, "cpuset_cpus": "0-1", "cpuset_mems": "0",
        "ulimits": [{"Name": "nofile", "Hard": 2048, "Soft": 1024}],
        "platform": "linux/amd64", "cache_from": ["app:0", "base"], "registry_auths": {},
    }  # fmt: skip
    assert (builder.last() / "context.tar").read_bytes() == CONTEXT


def test_defaults_and_docker_readings_of_values(builder: Builder) -> None:
    status, _, body = post(builder.daemon, "/build", [("forcerm", "1"), ("rm", "0"),
                                                      ("memory", "lots")], CONTEXT)  # fmt: skip
    assert status == 200, body
    options = builder.options()
    assert options["dockerfile"] == "Dockerfile"
    assert (options["remove"], options["force_remove"]) == (True, True)  # forcerm implies rm
    assert options["memory"] == 0  # dockerd's Int64ValueOrZero: unreadable is 0
    post(builder.daemon, "/build", [], CONTEXT)
    assert builder.options()["remove"] is True


@pytest.mark.parametrize("padded", [True, False])
def test_registry_config_header_is_decoded(builder: Builder, padded: bool) -> None:
    auths = {"registry.example:5000": {"username": "jane", "password": "hunter2", "email": ""},
             "https://index.docker.io/v1/": {"auth": "bW9ieTpwdw=="}}  # fmt: skip
    encoded = base64.urlsafe_b64encode(json.dumps(auths).encode()).decode()
    if not padded:
        encoded = encoded.rstrip("=")
    assert len(encoded) % 4 or padded  # the unpadded case really lacks padding
    status, _, body = post(builder.daemon, "/build", [], CONTEXT,
                           {"X-Registry-Config": encoded})  # fmt: skip
    assert status == 200, body
    assert builder.options()["registry_auths"] == {
        "registry.example:5000": {"username": "jane", "password": "hunter2"},
        "https://index.docker.io/v1/": {"auth": "bW9ieTpwdw=="},
    }


def test_an_unreadable_registry_config_is_no_credentials(builder: Builder) -> None:
    status, _, _ = post(builder.daemon, "/build", [], CONTEXT, {"X-Registry-Config": "%%%"})
    assert status == 200
    assert builder.options()["registry_auths"] == {}


def test_messages_are_streamed_in_order(builder: Builder) -> None:
    messages = [
        {"stream": "Step 1/2 : FROM busybox\n"},
        {"status": "Pulling from library/busybox", "id": "latest"},
        {"stream": " ---> 0123456789ab\n"},
        {"aux": {"ID": IMAGE_ID}},
        {"stream": "Successfully built abababababab\n"},
        {"stream": "Successfully tagged app:1\n"},
    ]
    builder.script(messages=messages)
    status, _, body = post(builder.daemon, "/build", [("t", "app:1")], CONTEXT)
    assert status == 200
    assert lines(body) == messages


def test_quiet_sends_only_the_image_id(builder: Builder) -> None:
    builder.script(messages=[{"stream": "Step 1/1 : FROM busybox\n"},
                             {"aux": {"ID": IMAGE_ID}}])  # fmt: skip
    status, _, body = post(builder.daemon, "/build", [("q", "1")], CONTEXT)
    assert status == 200
    assert lines(body) == [{"stream": IMAGE_ID + "\n"}]
    assert builder.options()["quiet"] is True


def test_quiet_failure_sends_what_was_held_back_then_the_error(builder: Builder) -> None:
    builder.script(messages=[{"stream": "Step 1/1 : RUN false\n"}], fail="it broke")
    status, _, body = post(builder.daemon, "/build", [("q", "1")], CONTEXT)
    assert status == 200
    failure = {"errorDetail": {"message": "it broke"}, "error": "it broke"}
    assert lines(body) == [{"stream": "Step 1/1 : RUN false\n"}, failure]


def test_an_error_after_output_is_the_streams_last_line(builder: Builder) -> None:
    failure = {"errorDetail": {"code": 3, "message": "The command '/bin/sh -c exit 3' "
               "returned a non-zero code: 3"}, "error": "The command '/bin/sh -c exit 3' "
               "returned a non-zero code: 3"}  # fmt: skip
    builder.script(messages=[{"stream": "Step 1/1 : RUN exit 3\n"}, failure,
                             {"stream": "never sent\n"}])  # fmt: skip
    status, _, body = post(builder.daemon, "/build", [], CONTEXT)
    assert status == 200
    assert lines(body) == [{"stream": "Step 1/1 : RUN exit 3\n"}, failure]
    builder.script(messages=[{"stream": "Step 1/1 : FROM busybox\n"}], fail="pull failed")
    status, _, body = post(builder.daemon, "/build", [], CONTEXT)
    assert lines(body)[-1] == {"errorDetail": {"message": "pull failed"}, "error": "pull failed"}


def test_an_error_before_any_output_gets_its_status(builder: Builder) -> None:
    builder.script(fail="dockerfile parse error on line 1: unknown instruction: FRM", status=400)
    status, _, body = post(builder.daemon, "/build", [], CONTEXT)
    assert status == 400
    assert json.loads(body) == {
        "message": "dockerfile parse error on line 1: unknown instruction: FRM"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([("buildargs", "{bad")], "error reading build args: invalid JSON"),
        ([("buildargs", '{"A":1}')], "error reading build args: json: cannot unmarshal number"),
        ([("labels", '["x"]')], "error reading labels: json: cannot unmarshal array into Go "
                                "value of type map[string]string"),
        ([("cachefrom", '{"a":1}')], "error reading cache-from: json: cannot unmarshal object"),
        ([("ulimits", '[{"Name":1}]')], "error reading ulimit settings: json: cannot unmarshal "
                                        "number into Go struct field Ulimit.Name of type string"),
        ([("outputs", "nope")], "invalid outputs specified: invalid JSON"),
        ([("shmsize", "64m")], 'strconv.ParseInt: parsing "64m": invalid syntax'),
        ([("version", "3")], 'invalid version "3"'),
        ([("version", "2")], "buildkit is not enabled on daemon"),
        ([("squash", "1")], "squash is only supported with experimental mode"),
        ([("t", "Bad:Tag")], "invalid reference format: repository name (library/Bad) must be "
                             "lowercase"),
        ([("t", "app@sha256:" + "a" * 64)], "build tag cannot contain a digest"),
        ([("securityopt", "seccomp=unconfined")], "security options are not supported on linux"),
        ([("isolation", "hyperv")], 'unsupported isolation: "hyperv"'),
    ],
)  # fmt: skip
def test_bad_parameters_are_400s(
    builder: Builder, query: list[tuple[str, str]], message: str
) -> None:
    before = len(builder.builds())
    status, _, body = post(builder.daemon, "/build", query, CONTEXT)
    assert status == 400, body
    assert json.loads(body)["message"].startswith(message)
    assert len(builder.builds()) == before  # refused before the builder saw it


def test_a_remote_context_is_refused_clearly(builder: Builder) -> None:
    status, _, body = post(builder.daemon, "/build", [("remote", "https://example.com/c.tar")])
    assert status == 501
    assert "remote build contexts are not supported" in json.loads(body)["message"]


def test_client_leaving_cancels_the_build(builder: Builder) -> None:
    builder.script(messages=[{"stream": "Step 1/1 : RUN sleep 1000\n"}], hang=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(builder.daemon.socket_path))
    sock.sendall(b"POST /v1.45/build HTTP/1.1\r\nHost: ketch\r\nContent-Type: application/x-tar"
                 b"\r\nContent-Length: %d\r\n\r\n" % len(CONTEXT) + CONTEXT)  # fmt: skip
    deadline = time.monotonic() + 10
    received = b""
    while b"Step 1/1" not in received:
        assert time.monotonic() < deadline
        received += sock.recv(4096)
    record = builder.last()
    while not (record / "hanging").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(CLIENT_CHECK * 1.5)  # the route has looked at least once: the client is there
    assert not (record / "cancelled").exists()
    sock.close()
    while not (record / "cancelled").exists():
        assert time.monotonic() < deadline, "the build went on after its client left"
        time.sleep(0.1)


def test_client_leaving_mid_upload_cancels_the_build(builder: Builder) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(builder.daemon.socket_path))
    sock.sendall(b"POST /v1.45/build HTTP/1.1\r\nHost: ketch\r\nContent-Length: 100000\r\n\r\n"
                 + CONTEXT[:1024])  # fmt: skip
    deadline = time.monotonic() + 10
    while not builder.builds() or (builder.last() / "received").exists() or not (
        builder.last() / "context.tar"
    ).exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    record = builder.last()
    sock.close()
    while not (record / "cancelled").exists():
        assert time.monotonic() < deadline, "the build went on after its client left"
        time.sleep(0.1)
    assert not (record / "received").exists()


def test_build_prune_reads_dockers_filters(builder: Builder) -> None:
    builder.script(prune=[["cache1", "cache2"], 4096])
    filters = {"type": ["regular"], "inuse": ["false"], "until": ["24h"]}
    status, _, body = post(builder.daemon, "/build/prune", [
        ("all", "1"), ("keep-storage", "1000"), ("filters", json.dumps(filters))])  # fmt: skip
    assert status == 200, body
    assert json.loads(body) == {"CachesDeleted": ["cache1", "cache2"], "SpaceReclaimed": 4096}
    record = json.loads(sorted(builder.directory.glob("prune-*.json"))[-1].read_text())
    until = record["filters"].pop("until")
    assert abs(until - (time.time() - 24 * 3600)) < 60
    assert record == {"all": True, "keep_storage": 1000,
                      "filters": {"type": ["regular"], "inuse": ["false"]}}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([("filters", '{"label":["a=b"]}')], "invalid filter 'label'"),
        ([("filters", '{"until":["soon"]}')], "\"until\" filter expects a duration"),
        ([("filters", '{"until":["1h"],"unused-for":["2h"]}')], "conflicting filters"),
        ([("keep-storage", "1g")], "keep-storage is in bytes and expects an integer, got 1g"),
    ],
)
def test_build_prune_refuses_what_dockerd_refuses(
    builder: Builder, query: list[tuple[str, str]], message: str
) -> None:
    status, _, body = post(builder.daemon, "/build/prune", query)
    assert status == 400
    assert json.loads(body)["message"].startswith(message)


def test_system_df_shows_the_build_cache(builder: Builder) -> None:
    row = {"ID": "cache1", "Parents": None, "Type": "regular", "Description": "RUN make",
           "InUse": False, "Shared": False, "Size": 4096, "CreatedAt": "2026-01-01T00:00:00Z",
           "LastUsedAt": None, "UsageCount": 1}  # fmt: skip
    builder.script(cache=[row])
    conn = UnixConnection(str(builder.daemon.socket_path))
    try:
        conn.request("GET", "/v1.45/system/df")
        df = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert df["BuildCache"] == [row]


def test_ping_advertises_the_classic_builder_and_session_is_refused(builder: Builder) -> None:
    conn = UnixConnection(str(builder.daemon.socket_path))
    try:
        conn.request("GET", "/_ping")
        response = conn.getresponse()
        response.read()
        assert response.getheader("Builder-Version") == "1"
    finally:
        conn.close()
    status, _, body = post(builder.daemon, "/session", headers={"Upgrade": "h2c"})
    assert status == 501
    assert "BuildKit" in json.loads(body)["message"]


def test_no_builder_is_a_501_and_prune_frees_nothing(tmp_path: Path) -> None:
    daemon = run_daemon(tmp_path, launcher=["-m", "ketch.testing.fakebuilder", "none"])
    try:
        status, _, body = post(daemon, "/build", [], CONTEXT)
        assert status == 501
        assert "no builder" in json.loads(body)["message"]
        status, _, body = post(daemon, "/build/prune", [("all", "1")])
        assert (status, json.loads(body)) == (200, {"CachesDeleted": None, "SpaceReclaimed": 0})
    finally:
        daemon.stop()
