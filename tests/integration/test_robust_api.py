"""Malformed Engine API input against a real ketchd: a 400 or 404 with a clear
Docker-style {"message": ...}, nothing created, and the daemon serves the next request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ketch.testing.daemon import Daemon
from ketch.testing.unixhttp import UnixConnection

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}


def call(
    daemon: Daemon, method: str, url: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    """One request; the answer's status and its body (JSON decoded when it is JSON)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    connection = UnixConnection(str(daemon.socket_path))
    try:
        connection.request(method, url, body=data, headers=JSON if data is not None else {})
        response = connection.getresponse()
        payload = response.read()
        if response.headers.get("Content-Type") == "application/json":
            lines = [json.loads(line) for line in payload.splitlines() if line.strip()]
            return response.status, lines[0] if len(lines) == 1 else lines
        return response.status, payload
    finally:
        connection.close()


def container_ids(daemon: Daemon) -> set[str]:
    status, rows = call(daemon, "GET", "/containers/json?all=1")
    assert status == 200
    return {row["Id"] for row in rows}


def assert_still_serving(daemon: Daemon) -> None:
    assert daemon.process.poll() is None, daemon.log()
    assert call(daemon, "GET", "/_ping") == (200, b"OK")
    status, info = call(daemon, "GET", "/version")
    assert status == 200 and info["ApiVersion"]


@pytest.fixture
def daemon(ketchd: Daemon) -> Iterator[Daemon]:
    status, _ = call(ketchd, "POST", "/images/create?fromImage=busybox&tag=latest")
    assert status == 200
    before = container_ids(ketchd)
    yield ketchd
    for leftover in container_ids(ketchd) - before:
        call(ketchd, "DELETE", f"/containers/{leftover}?force=1")


def expect(daemon: Daemon, answer: tuple[int, Any], status: int, message: str) -> None:
    assert answer == (status, {"message": message})
    assert_still_serving(daemon)


BAD_CREATE_BODIES = [
    pytest.param(
        {"Image": "busybox", "HostConfig": {"Memory": "lots"}},
        "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64",
        id="memory-string",
    ),
    pytest.param(
        {"Image": "busybox", "Cmd": 5},
        "json: cannot unmarshal number into Go struct field Config.Cmd of type string",
        id="cmd-number",
    ),
    pytest.param(
        {"Image": "busybox", "Cmd": ["echo", 5]},
        "json: cannot unmarshal number into Go struct field Config.Cmd of type string",
        id="cmd-element-number",
    ),
    pytest.param(
        {"Image": "busybox", "Env": "A=1"},
        "json: cannot unmarshal string into Go struct field Config.Env of type []string",
        id="env-string",
    ),
    pytest.param(
        {"Image": 5},
        "json: cannot unmarshal number into Go struct field Config.Image of type string",
        id="image-number",
    ),
    pytest.param(
        {"Image": "busybox", "Labels": [1]},
        "json: cannot unmarshal array into Go struct field Config.Labels of type map[string]string",
        id="labels-array",
    ),
    pytest.param(
        {"Image": "busybox", "Tty": "yes"},
        "json: cannot unmarshal string into Go struct field Config.Tty of type bool",
        id="tty-string",
    ),
    pytest.param(
        {"Image": "busybox", "ExposedPorts": 5},
        "json: cannot unmarshal number into Go struct field Config.ExposedPorts of type struct",
        id="exposed-ports-number",
    ),
    pytest.param(
        {"Image": "busybox", "HostConfig": {"NanoCpus": 1.5}},
        "json: cannot unmarshal number into Go struct field HostConfig.NanoCpus of type int64",
        id="nanocpus-fraction",
    ),
    pytest.param(
        {"Image": "busybox", "HostConfig": "x"},
        "json: cannot unmarshal string into Go value of type container.HostConfig",
        id="hostconfig-string",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_CREATE_BODIES)
def test_create_with_wrong_types_is_a_400_and_creates_nothing(
    daemon: Daemon, body: dict[str, Any], message: str
) -> None:
    before = container_ids(daemon)
    expect(daemon, call(daemon, "POST", "/containers/create", body), 400, message)
    assert container_ids(daemon) == before


def test_create_with_invalid_json_is_a_400(daemon: Daemon) -> None:
    answer = call(daemon, "POST", "/containers/create", raw=b'{"Image": "busybox",')
    expect(
        daemon, answer, 400, "invalid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 21 (char 20)",
    )  # fmt: skip
    answer = call(daemon, "POST", "/containers/create", raw=b'["busybox"]')
    expect(daemon, answer, 400, "invalid JSON: expected an object")


def test_a_10_mb_body_is_refused_and_the_daemon_carries_on(daemon: Daemon) -> None:
    before = container_ids(daemon)
    garbage = b"x" * (10 * 1024 * 1024)
    answer = call(daemon, "POST", "/containers/create", raw=garbage)
    expect(daemon, answer, 400, "invalid JSON: Expecting value: line 1 column 1 (char 0)")
    # Valid JSON of the same size with a wrong type inside: refused just as clearly.
    big = {"Image": "busybox", "Cmd": 5, "Labels": {"pad": "p" * (10 * 1024 * 1024)}}
    answer = call(daemon, "POST", "/containers/create", big)
    expect(
        daemon, answer, 400,
        "json: cannot unmarshal number into Go struct field Config.Cmd of type string",
    )  # fmt: skip
    assert container_ids(daemon) == before


def test_a_body_over_the_limit_is_a_413_naming_the_limit(daemon: Daemon) -> None:
    before = container_ids(daemon)
    answer = call(daemon, "POST", "/containers/create", raw=b"x" * (70 * 1024 * 1024))
    expect(daemon, answer, 413, "Maximum request body size 67108864 exceeded.")
    assert container_ids(daemon) == before


@pytest.mark.parametrize(
    ("method", "url", "message"),
    [
        ("GET", "/containers/nope/json", "No such container: nope"),
        ("POST", "/containers/nope/start", "No such container: nope"),
        ("DELETE", "/containers/nope", "No such container: nope"),
        ("GET", "/containers/..%2F..%2Fetc/json", "No such container: ../../etc"),
        ("POST", "/containers/..%2Fx/start", "No such container: ../x"),
        ("GET", "/images/nope/json", "No such image: nope"),
        ("GET", "/images/..%2F..%2Fetc%2Fpasswd/json", "No such image: ../../etc/passwd"),
        ("DELETE", "/images/..%2F..%2Fetc", "No such image: ../../etc"),
        ("GET", "/exec/nope/json", "No such exec instance: nope"),
        ("POST", "/exec/..%2F..%2Fx/start", "No such exec instance: ../../x"),
    ],
)
def test_unknown_and_traversing_ids_are_404s(
    daemon: Daemon, method: str, url: str, message: str
) -> None:
    body = {} if method == "POST" else None
    expect(daemon, call(daemon, method, url, body), 404, message)


@pytest.mark.parametrize("name", ["../evil", "a/../../b", "..", "x/y"])
def test_traversing_container_names_are_refused(daemon: Daemon, name: str) -> None:
    before = container_ids(daemon)
    answer = call(daemon, "POST", f"/containers/create?name={name}", {"Image": "busybox"})
    expect(
        daemon, answer, 400,
        f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    )  # fmt: skip
    assert container_ids(daemon) == before
    containers_dir = daemon.data_root / "containers"
    assert not (daemon.data_root / "evil").exists()
    assert sorted(p.name for p in containers_dir.iterdir()) == sorted(container_ids(daemon))


def test_bad_query_values_on_a_live_container(daemon: Daemon) -> None:
    status, created = call(
        daemon, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "300"]}
    )
    assert status == 201
    cid = created["Id"]
    assert call(daemon, "POST", f"/containers/{cid}/start") == (204, b"")
    expect(daemon, call(daemon, "POST", f"/containers/{cid}/stop?t=abc"), 400,
           "invalid value for t: abc")  # fmt: skip
    expect(daemon, call(daemon, "GET", f"/containers/{cid}/logs?stdout=1&tail=x"), 400,
           "invalid tail value: x")  # fmt: skip
    expect(daemon, call(daemon, "POST", f"/containers/{cid}/kill?signal=NOPE"), 400,
           "Invalid signal: NOPE")  # fmt: skip
    expect(
        daemon, call(daemon, "POST", f"/containers/{cid}/exec", {"Cmd": 5}), 400,
        "json: cannot unmarshal number into Go struct field ExecConfig.Cmd of type string",
    )  # fmt: skip
    # None of it touched the container: it still runs.
    status, info = call(daemon, "GET", f"/containers/{cid}/json")
    assert status == 200 and info["State"]["Running"] is True


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("fromImage=UPPER", "invalid reference format: repository name (library/UPPER) "
         "must be lowercase"),
        ("fromImage=..%2F..%2Fetc", "invalid reference format"),
        ("fromImage=a::b", "invalid reference format"),
        ("fromImage=busybox&tag=..%2Fx", "invalid reference format"),
        ("fromImage=", "fromImage or fromSrc is required"),
    ],
)  # fmt: skip
def test_pull_of_an_invalid_reference_is_a_400(daemon: Daemon, query: str, message: str) -> None:
    before = sorted(p.name for p in (daemon.data_root / "content/blobs/sha256").iterdir())
    expect(daemon, call(daemon, "POST", f"/images/create?{query}"), 400, message)
    after = sorted(p.name for p in (daemon.data_root / "content/blobs/sha256").iterdir())
    assert after == before
