"""A corpus of malformed requests against a real ketchd: each is the client's mistake, so
each gets Docker's 4xx status and a message that names the problem (in dockerd's words
where it has some), never a 5xx, a Python exception's text or a traceback in the log.

Before their checks existed, most of these inputs answered 5xx and the rest a 200 that
ignored the mistake or a message that was not dockerd's; t=1e3 and limit=x guard the
integer parsing that replaced int(). bench/fuzz_api.py is the exploration that found them."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from ketch.testing.daemon import Daemon
from ketch.testing.unixhttp import UnixConnection

pytestmark = pytest.mark.integration

INVALID_FILTER = "invalid filter"


def call(
    daemon: Daemon,
    method: str,
    url: str,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request; its status and body (JSON decoded when the answer is JSON)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = dict(headers or {})
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    connection = UnixConnection(str(daemon.socket_path))
    try:
        connection.request(method, url, body=data, headers=sent)
        response = connection.getresponse()
        payload = response.read()
        if response.headers.get("Content-Type") == "application/json" and payload.strip():
            lines = [json.loads(line) for line in payload.splitlines() if line.strip()]
            return response.status, lines[0] if len(lines) == 1 else lines
        return response.status, payload
    finally:
        connection.close()


@pytest.fixture(scope="module")
def running(ketchd: Daemon) -> Iterator[dict[str, str]]:
    """A running container and an exec in it, for the routes that need one."""
    status, _ = call(ketchd, "POST", "/images/create?fromImage=busybox&tag=latest")
    assert status == 200
    status, made = call(ketchd, "POST", "/containers/create",
                        {"Image": "busybox", "Cmd": ["sleep", "300"]})  # fmt: skip
    assert status == 201, made
    cid = made["Id"]
    try:
        assert call(ketchd, "POST", f"/containers/{cid}/start") == (204, b"")
        status, made = call(ketchd, "POST", f"/containers/{cid}/exec", {"Cmd": ["true"]})
        assert status == 201, made
        yield {"container": cid, "exec": made["Id"]}
    finally:
        call(ketchd, "DELETE", f"/containers/{cid}?force=1")


def expect_refused(
    daemon: Daemon, answer: tuple[int, Any], status: int, message: str, log_from: int
) -> None:
    assert answer == (status, {"message": message})
    assert daemon.process.poll() is None
    assert call(daemon, "GET", "/_ping") == (200, b"OK")
    assert "Traceback" not in daemon.log()[log_from:]


def deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def auth_header(value: Any) -> dict[str, str]:
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(value).encode()).decode()}


# Bodies that are not UTF-8 JSON, or nest deeper than a decoder goes, on every route
# that reads a JSON body. {c} and {e} are the running container and its exec.
JSON_ROUTES = [
    "/containers/create",
    "/containers/{c}/update",
    "/containers/{c}/exec",
    "/exec/{e}/start",
    "/commit?container={c}",
    "/auth",
]
BAD_BODIES = [
    pytest.param(b'{"Image": "\xff"}',
                 "invalid JSON: the body is not UTF-8 (byte 0xff at offset 11)", id="latin1"),
    pytest.param(b"\xff\xfe{\x00}\x00",  # UTF-16 with its BOM: JSON is UTF-8 only
                 "invalid JSON: the body is not UTF-8 (byte 0xff at offset 0)", id="utf16"),
    pytest.param(deep(20000), "invalid JSON: exceeded max depth", id="nested-20000"),
]  # fmt: skip


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize(("raw", "message"), BAD_BODIES)
def test_a_body_that_is_not_utf8_json_is_a_400(
    ketchd: Daemon, running: dict[str, str], route: str, raw: bytes, message: str
) -> None:
    url = route.format(c=running["container"], e=running["exec"])
    log_from = len(ketchd.log())
    expect_refused(ketchd, call(ketchd, "POST", url, raw=raw), 400, message, log_from)


# Filters that are not Docker's {"key": ["value"]} or {"key": {"value": true}}.
BAD_FILTERS = ["4", "true", "[]", '"s"', "{", '{"label":[1]}', '{"label":{"a":"b"}}',
               '{"label":"a"}']  # fmt: skip
FILTER_ROUTES = [
    ("GET", "/containers/json"),
    ("POST", "/containers/prune"),
    ("GET", "/images/json"),
    ("POST", "/images/prune"),
    ("GET", "/events?until=1"),
]


@pytest.mark.parametrize(("method", "route"), FILTER_ROUTES)
@pytest.mark.parametrize("filters", BAD_FILTERS)
def test_filters_of_no_docker_shape_are_a_400(
    ketchd: Daemon, method: str, route: str, filters: str
) -> None:
    from urllib.parse import quote

    url = f"{route}{'&' if '?' in route else '?'}filters={quote(filters)}"
    log_from = len(ketchd.log())
    expect_refused(ketchd, call(ketchd, method, url), 400, INVALID_FILTER, log_from)


@pytest.mark.parametrize(
    ("route", "filters", "message"),
    [
        ("/containers/prune", {"status": ["exited"]}, "invalid filter 'status'"),
        ("/images/prune", {"reference": ["busybox"]}, "invalid filter 'reference'"),
        ("/images/prune", {"dangling": ["maybe"]}, "invalid filter 'dangling=[maybe]'"),
        ("/images/prune", {"dangling": []}, "invalid filter 'dangling'"),
    ],
)
def test_a_prune_filter_dockerd_does_not_take_is_refused_and_prunes_nothing(
    ketchd: Daemon, route: str, filters: dict[str, Any], message: str
) -> None:
    from urllib.parse import quote

    status, made = call(ketchd, "POST", "/containers/create", {"Image": "busybox"})
    assert status == 201
    try:
        log_from = len(ketchd.log())
        answer = call(ketchd, "POST", f"{route}?filters={quote(json.dumps(filters))}")
        expect_refused(ketchd, answer, 400, message, log_from)
        # The stopped container, and the image it was made from, are still there.
        assert call(ketchd, "GET", f"/containers/{made['Id']}/json")[0] == 200
        assert call(ketchd, "GET", "/images/busybox/json")[0] == 200
    finally:
        call(ketchd, "DELETE", f"/containers/{made['Id']}?force=1")


BAD_QUERIES = [
    ("POST", "/containers/{c}/stop?t=99999999999999999999",
     "invalid value for t: 99999999999999999999: value out of range"),
    ("POST", "/containers/{c}/restart?t=1e3", "invalid value for t: 1e3"),
    ("GET", "/containers/json?limit=x", "invalid value for limit: x"),
    ("GET", "/containers/json?limit=-99999999999999999999",
     "invalid value for limit: -99999999999999999999: value out of range"),
    ("POST", "/containers/{c}/resize?h=-1&w=80",
     'invalid resize height "-1": value out of range'),
    ("POST", "/containers/{c}/resize?h=24&w=x", 'invalid resize width "x": invalid syntax'),
    ("POST", "/containers/{c}/resize?h=4294967296&w=80",
     'invalid resize height "4294967296": value out of range'),
    ("POST", "/exec/{e}/resize?h=24&w=-5", 'invalid resize width "-5": value out of range'),
    ("POST", "/images/create?fromImage=busybox&tag=%C3%A9", "invalid reference format"),
    ("HEAD", "/containers/{c}/archive?path=/etc%00x", None),
    ("GET", "/containers/{c}/archive?path=/etc%00x", "invalid path /etc%00x: a NUL byte in it"),
    ("GET", "/containers/{c}/archive?path=/" + "x" * 300,
     f"invalid path /{'x' * 300}: file name too long"),
    ("HEAD", "/containers/{c}/archive?path=/" + "x" * 300, None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "route", "message"), BAD_QUERIES)
def test_query_values_of_the_wrong_kind_are_a_400(
    ketchd: Daemon, running: dict[str, str], method: str, route: str, message: str | None
) -> None:
    url = route.format(c=running["container"], e=running["exec"])
    log_from = len(ketchd.log())
    status, body = call(ketchd, method, url)
    if message is None:  # HEAD: a status and no body
        assert (status, body) == (400, b"")
        assert "Traceback" not in ketchd.log()[log_from:]
        return
    expect_refused(ketchd, (status, body), 400, message, log_from)


def tar_of(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("path", "raw", "message"),
    [
        ("/tmp", b"", "Error processing tar file: empty file"),
        ("/tmp", b"not a tar at all" * 64, "Error processing tar file: invalid header"),
        ("/tmp", tar_of("f", b"x" * 5000)[:1500],
         "Error processing tar file: unexpected end of data"),
        ("/tmp", tar_of("d/" + "y" * 300, b"x"),
         f"invalid archive entry d/{'y' * 300}: file name too long"),
        ("/tmp%00", tar_of("f", b"x"), "invalid path /tmp%00: a NUL byte in it"),
    ],
)  # fmt: skip
def test_an_upload_that_is_no_tar_is_a_400(
    ketchd: Daemon, running: dict[str, str], path: str, raw: bytes, message: str
) -> None:
    url = f"/containers/{running['container']}/archive?path={path}"
    log_from = len(ketchd.log())
    answer = call(ketchd, "PUT", url, raw=raw, headers={"Content-Type": "application/x-tar"})
    expect_refused(ketchd, answer, 400, message, log_from)


WRONG_TYPES = [
    ("/containers/{c}/update", {"CpuShares": 99999999999999999999999},
     "json: cannot unmarshal number 99999999999999999999999 into Go struct field "
     "UpdateConfig.CpuShares of type int64"),
    ("/containers/{c}/update", {"CpuShares": -1},
     "invalid CPU shares (-1): value must be a positive integer"),
    ("/containers/{c}/update", {"MemoryReservation": 1024},
     "Minimum memory reservation allowed is 6MB"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"Memory": -(2**64)}},
     "json: cannot unmarshal number -18446744073709551616 into Go struct field "
     "HostConfig.Memory of type int64"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"MemorySwappiness": 101}},
     "Invalid value: 101, valid memory swappiness range is 0-100"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"BlkioWeight": 5}},
     "Range of blkio weight is from 10 to 1000"),
    ("/exec/{e}/start", {"Detach": "yes"},
     "json: cannot unmarshal string into Go struct field ExecStartRequest.Detach of type bool"),
    ("/auth", {"serveraddress": 5},
     "invalid X-Registry-Auth header: invalid JSON: json: cannot unmarshal number into Go "
     "struct field AuthConfig.serveraddress of type string"),
    ("/auth", {"username": ["a"]},
     "invalid X-Registry-Auth header: invalid JSON: json: cannot unmarshal array into Go "
     "struct field AuthConfig.username of type string"),
    ("/auth", {"serveraddress": "x" * 300}, f"invalid registry address: '{'x' * 300}'"),
    ("/auth", {"serveraddress": "bad host"}, "invalid registry address: 'bad host'"),
]  # fmt: skip


@pytest.mark.parametrize(("route", "body", "message"), WRONG_TYPES)
def test_json_fields_of_the_wrong_type_or_range_are_a_400(
    ketchd: Daemon, running: dict[str, str], route: str, body: dict[str, Any], message: str
) -> None:
    url = route.format(c=running["container"], e=running["exec"])
    log_from = len(ketchd.log())
    expect_refused(ketchd, call(ketchd, "POST", url, body), 400, message, log_from)


def test_auth_with_null_fields_is_read_as_empty_ones(ketchd: Daemon) -> None:
    """Go decodes null as the zero value: no server address means Docker Hub, which this
    machine cannot reach (a 503 naming it), not a crash on the null."""
    status, body = call(ketchd, "POST", "/auth", {"serveraddress": None, "username": None})
    assert status != 500 and "NoneType" not in json.dumps(body)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"X-Registry-Auth": "!!!!"},
         "invalid X-Registry-Auth header: must be a valid base64url-encoded string"),
        ({"X-Registry-Auth": "_w"}, "invalid X-Registry-Auth header: invalid JSON"),
        (auth_header([1]), "invalid X-Registry-Auth header: invalid JSON: json: cannot "
         "unmarshal array into Go value of type registry.AuthConfig"),
        (auth_header({"username": 1}), "invalid X-Registry-Auth header: invalid JSON: json: "
         "cannot unmarshal number into Go struct field AuthConfig.username of type string"),
    ],
)  # fmt: skip
def test_a_bad_registry_auth_header_is_a_400(
    ketchd: Daemon, header: dict[str, str], message: str
) -> None:
    log_from = len(ketchd.log())
    answer = call(ketchd, "POST", "/images/create?fromImage=busybox&tag=latest", headers=header)
    expect_refused(ketchd, answer, 400, message, log_from)


def test_an_empty_change_is_no_change(ketchd: Daemon, running: dict[str, str]) -> None:
    """`changes=` with nothing in it asks for nothing ketch lacks: the commit is made."""
    url = f"/commit?container={running['container']}&changes="
    status, body = call(ketchd, "POST", url)
    assert status == 201, body
    assert call(ketchd, "DELETE", f"/images/{body['Id']}")[0] == 200


def test_a_limit_the_kernel_refuses_is_a_400_and_nothing_of_the_update_is_kept(
    ketchd: Daemon, running: dict[str, str]
) -> None:
    cid = running["container"]
    log_from = len(ketchd.log())
    answer = call(ketchd, "POST", f"/containers/{cid}/update", {"CpuQuota": 2**63 - 1})
    message = f"Cannot update container {cid}: cpu.cfs_quota_us: Invalid argument"
    expect_refused(ketchd, answer, 400, message, log_from)
    status, view = call(ketchd, "GET", f"/containers/{cid}/json")
    assert status == 200 and view["HostConfig"]["CpuQuota"] == 0


def test_update_names_a_missing_container_first_and_reads_only_update_config(
    ketchd: Daemon, running: dict[str, str]
) -> None:
    status, body = call(ketchd, "POST", "/containers/nope/update", {"Binds": ["/x:/y"]})
    assert (status, body) == (404, {"message": "No such container: nope"})
    # Keys outside UpdateConfig are not read, as dockerd's decoder does not read them.
    cid = running["container"]
    status, body = call(ketchd, "POST", f"/containers/{cid}/update",
                        {"Binds": ["/x:/y"], "PidsLimit": 321})  # fmt: skip
    assert (status, body) == (200, {"Warnings": []})
    status, view = call(ketchd, "GET", f"/containers/{cid}/json")
    assert view["HostConfig"]["PidsLimit"] == 321 and not view["HostConfig"]["Binds"]


def test_prune_honours_until_and_label_not(ketchd: Daemon) -> None:
    made = []
    for labels in ({"keep": "1"}, {}, {}):
        status, body = call(ketchd, "POST", "/containers/create",
                            {"Image": "busybox", "Labels": labels})  # fmt: skip
        assert status == 201, body
        made.append(body["Id"])
    kept, young, _ = made
    try:
        # Created just now: none is older than an hour.
        status, body = call(ketchd, "POST", '/containers/prune?filters={"until":["1h"]}')
        assert (status, body["ContainersDeleted"]) == (200, None)
        status, body = call(ketchd, "POST",
                            '/containers/prune?filters={"label!":["keep"],"until":["0s"]}')
        assert status == 200 and kept not in body["ContainersDeleted"]
        assert set(made[1:]) <= set(body["ContainersDeleted"])
        assert call(ketchd, "GET", f"/containers/{kept}/json")[0] == 200
        status, body = call(ketchd, "POST", '/containers/prune?filters={"until":["soon"]}')
        assert (status, body) == (400, {"message": "invalid filter 'until=soon'"})
    finally:
        for cid in made:
            call(ketchd, "DELETE", f"/containers/{cid}?force=1")


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("POST", "/swarm/leave?force=1", 503, "This node is not part of a swarm"),
        ("GET", "/swarm", 503, 'This node is not a swarm manager. Use "docker swarm init" or '
         '"docker swarm join" to connect this node to swarm and try again.'),
        ("GET", "/services", 503, 'This node is not a swarm manager. Use "docker swarm init" or '
         '"docker swarm join" to connect this node to swarm and try again.'),
        ("POST", "/swarm/init", 501, "swarm mode is not supported by ketch"),
    ],
)  # fmt: skip
def test_swarm_routes_answer_as_a_node_outside_a_swarm(
    ketchd: Daemon, method: str, path: str, status: int, message: str
) -> None:
    assert call(ketchd, method, path, {} if method == "POST" else None) == (
        status, {"message": message})  # fmt: skip
