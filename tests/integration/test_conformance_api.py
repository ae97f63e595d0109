"""ketchd's answers checked against the Docker Engine API spec (v1.45).

The spec is Swagger 2.0 (tests/data holds the part of it these tests read); its
definitions become JSON Schema here (refs resolved, `x-nullable` honoured) and real
responses from a real ketchd, over raw HTTP on its socket, are validated against them.
"""

from __future__ import annotations

import copy
import http.client
import json
import socket
import time
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ketch.testing.daemon import Daemon
from ketch.testing.registry import RegistryServer

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "docker-engine-api" / "v1.45.yaml"
API = "/v1.45"
# Keys of Swagger 2.0 (and Docker's x- extensions) that JSON Schema does not know.
DROPPED = {"discriminator", "readOnly", "example", "externalDocs", "xml", "format"}
OPEN_SUFFIX = "..open"  # a definition without its closure, for allOf members


def to_json_schema(node: Any, in_all_of: bool = False) -> Any:
    """One Swagger 2.0 schema node as JSON Schema (2020-12).

    Swagger has no null type: `x-nullable: true` adds it. Go encodes a nil
    slice or map as null, and dockerd sends that for unset lists and maps
    (HostConfig.Binds, Config.Env), so arrays and objects take null too;
    strings, numbers and booleans never do unless marked.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in DROPPED:
            continue
        if key == "$ref":
            # "#/definitions/X" resolves in the root we build; inside an allOf, to the
            # open copy of X, or X's closure would refuse its siblings' keys
            out[key] = value + OPEN_SUFFIX if in_all_of else value
        elif key in ("properties", "definitions"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key == "allOf":
            out[key] = [to_json_schema(sub, in_all_of=True) for sub in value]
        else:
            out[key] = to_json_schema(value)
    kind = out.get("type")
    if isinstance(kind, str) and (
        node.get("x-nullable") is True or (kind in ("array", "object") and "x-nullable" not in node)
    ):
        out["type"] = [kind, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    closable = "properties" in out or "allOf" in out
    if closable and not in_all_of and "additionalProperties" not in out:
        # A key the spec does not name is a typo or an invention: refuse it. The
        # "unevaluated" form sees through allOf (HostConfig = Resources + its own).
        out["unevaluatedProperties"] = False
    if "$ref" in out and node.get("x-nullable") is True:
        return {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
    return out


@cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


@cache
def definitions() -> dict[str, Any]:
    found = {}
    for name, node in spec()["definitions"].items():
        if name in DOCKERD_DEVIATIONS:
            node = copy.deepcopy(node)
            node["properties"].update(DOCKERD_DEVIATIONS[name])
        found[name] = to_json_schema(node)
        found[name + OPEN_SUFFIX] = to_json_schema(node, in_all_of=True)
    return found


def schema_for(node: dict[str, Any]) -> dict[str, Any]:
    """A standalone JSON Schema for a Swagger node, carrying every definition.

    A response body itself is never null, whatever Go could encode."""
    schema = to_json_schema(copy.deepcopy(node))
    if isinstance(schema.get("type"), list):
        schema["type"] = schema["type"][0]
    return {**schema, "definitions": definitions()}


def definition(name: str) -> dict[str, Any]:
    return schema_for({"$ref": f"#/definitions/{name}"})


# Where dockerd itself departs from its spec, the spec gives way to what dockerd sends.
# Keyed by a path's response or a definition's name; the values are Swagger nodes.
DOCKERD_DEVIATIONS: dict[str, dict[str, Any]] = {
    # ExecInspectResponse.ExitCode is a *int in moby: null until the exec has ended
    "/exec/{id}/json": {"ExitCode": {"type": "integer", "x-nullable": True}},
    # events.Message keeps the deprecated status/id/from (omitempty) before API 1.52,
    # and docker-py reads them
    "EventMessage": {name: {"type": "string"} for name in ("status", "id", "from")},
}


def response_schema(path: str, method: str = "get", status: str | int = 200) -> dict[str, Any]:
    responses = spec()["paths"][path][method]["responses"]
    node = copy.deepcopy(responses.get(status, responses.get(str(status)))["schema"])
    if path in DOCKERD_DEVIATIONS:
        node["properties"].update(DOCKERD_DEVIATIONS[path])
    return schema_for(node)


def violations(body: Any, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message[:200]}"
        for error in validator.iter_errors(body)
    )


def assert_conforms(body: Any, schema: dict[str, Any]) -> None:
    found = violations(body, schema)
    assert not found, "\n".join(found)


class Raw:
    """Plain HTTP/1.1 over ketchd's Unix socket: the bytes as a client gets them."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def request(
        self, method: str, path: str, body: Any = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("localhost", timeout=60)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect(str(self.socket_path))
        conn.sock = sock
        try:
            headers = {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, API + path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.headers), response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, _, data = self.request(method, path, body)
        assert status == expect, (status, data[:500])
        return json.loads(data)


@pytest.fixture(scope="module")
def raw(ketchd: Daemon) -> Raw:
    return Raw(ketchd.socket_path)


@pytest.fixture(scope="module")
def pulled(raw: Raw) -> Raw:
    """busybox and hello-world in the daemon's store."""
    for name in ("busybox", "hello-world"):
        status, _, data = raw.request("POST", f"/images/create?fromImage={name}&tag=latest")
        assert status == 200, data
    return raw


@pytest.fixture
def container(pulled: Raw) -> Iterator[str]:
    """A running busybox container, removed afterwards."""
    created = pulled.json(
        "POST",
        f"/containers/create?name=conf-{uuid.uuid4().hex[:8]}",
        {"Image": "busybox", "Cmd": ["sleep", "300"], "Labels": {"t": "conformance"}},
        expect=201,
    )
    try:
        status, _, data = pulled.request("POST", f"/containers/{created['Id']}/start")
        assert status == 204, data
        yield created["Id"]
    finally:
        pulled.request("DELETE", f"/containers/{created['Id']}?force=1")


# -- the converter itself: a check that cannot fail would prove nothing --------------------


def test_schema_rejects_what_dockerd_would_not_send() -> None:
    summary = definition("ContainerSummary")
    assert violations({"Id": "x", "Created": "2024-01-01T00:00:00Z"}, summary)
    assert violations({"Id": "x", "Ports": [{"PrivatePort": "80"}]}, summary)
    error = definition("ErrorResponse")
    assert violations({}, error) == ["<root>: 'message' is a required property"]
    assert not violations({"message": "No such container: x"}, error)
    inspect = response_schema("/containers/{id}/json")
    assert violations({"State": {"Pid": "1"}}, inspect)
    assert not violations({"HostConfig": {"Binds": None}}, inspect)
    # keys the spec does not name are refused, also through allOf (Resources + HostConfig)
    assert violations({"Id": "x", "Nmes": ["/typo"]}, summary)
    host = definition("HostConfig")
    assert not violations({"Memory": 0, "Binds": None, "NetworkMode": "host"}, host)
    assert violations({"Memory": 0, "Bindz": []}, host)
    # x-nullable strings take null, plain strings do not
    assert not violations({"Health": None}, definition("ContainerState"))
    assert violations({"Status": None}, definition("ContainerState"))


# -- system --------------------------------------------------------------------------------


def test_ping(raw: Raw) -> None:
    for method in ("GET", "HEAD"):
        status, headers, body = raw.request(method, "/_ping")
        assert status == 200
        assert body == (b"OK" if method == "GET" else b"")
        assert headers["Api-Version"] == "1.45"
        assert headers["Content-Type"].startswith("text/plain")
        assert headers.get("Cache-Control") == "no-cache, no-store, must-revalidate"


def test_version(raw: Raw) -> None:
    body = raw.json("GET", "/version")
    assert_conforms(body, definition("SystemVersion"))
    assert body["ApiVersion"] == "1.45"
    assert body["Os"] == "linux"
    assert body["Components"][0]["Name"] == "Engine"


def test_info(pulled: Raw, container: str) -> None:
    body = pulled.json("GET", "/info")
    assert_conforms(body, definition("SystemInfo"))
    assert body["ContainersRunning"] >= 1
    assert body["Images"] >= 2
    assert body["Driver"] == "overlay2"
    assert body["NCPU"] >= 1 and body["MemTotal"] > 0


# -- images --------------------------------------------------------------------------------


def test_images_list(pulled: Raw) -> None:
    body = pulled.json("GET", "/images/json")
    assert_conforms(
        body, schema_for({"type": "array", "items": {"$ref": "#/definitions/ImageSummary"}})
    )
    tags = {tag for image in body for tag in image["RepoTags"]}
    assert {"busybox:latest", "hello-world:latest"} <= tags
    # `docker images busybox` sends a reference filter
    only = pulled.json("GET", '/images/json?filters={"reference":{"busybox":true}}')
    assert [image["RepoTags"] for image in only] == [["busybox:latest"]]
    assert all(image["Created"] > 1_000_000_000 and image["Size"] > 0 for image in body)


def test_image_inspect(pulled: Raw) -> None:
    body = pulled.json("GET", "/images/busybox/json")
    assert_conforms(body, definition("ImageInspect"))
    assert body["Id"].startswith("sha256:")
    assert body["RootFS"]["Type"] == "layers" and body["RootFS"]["Layers"]
    # one layer: overlay2 names no LowerDir, as dockerd
    assert body["GraphDriver"]["Name"] == "overlay2"
    assert set(body["GraphDriver"]["Data"]) == {"MergedDir", "UpperDir", "WorkDir"}
    assert body["Metadata"]["LastTagTime"]


def test_image_history(pulled: Raw) -> None:
    body = pulled.json("GET", "/images/busybox/history")
    assert_conforms(body, response_schema("/images/{name}/history"))
    assert body[0]["Id"].startswith("sha256:")
    assert body[0]["Tags"] == ["busybox:latest"]


def test_pull_progress_lines(raw: Raw) -> None:
    """A first pull (redis, not pulled before here): every line a CreateImageInfo."""
    status, headers, data = raw.request("POST", "/images/create?fromImage=redis&tag=latest")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    lines = [json.loads(line) for line in data.splitlines() if line.strip()]
    schema = definition("CreateImageInfo")
    for line in lines:
        assert_conforms(line, schema)
    assert lines[0] == {"status": "Pulling from library/redis", "id": "latest"}
    downloading = [line for line in lines if line["status"] == "Downloading"]
    assert downloading and all(line["progressDetail"]["total"] > 0 for line in downloading)
    assert any(line["status"] == "Pull complete" for line in lines)
    assert lines[-1] == {"status": "Status: Downloaded newer image for redis:latest"}
    status, _, data = raw.request("POST", "/images/create?fromImage=redis&tag=latest")
    again = [json.loads(line) for line in data.splitlines() if line.strip()]
    assert again[-1] == {"status": "Status: Image is up to date for redis:latest"}


def test_pull_error_body(raw: Raw, hub_mirror: RegistryServer) -> None:
    """A repository the registry does not have: an error before any progress, as a
    plain ErrorResponse (dockerd answers 404 "manifest unknown" the same way)."""
    image = f"{hub_mirror.host_port}/library/never-pushed"
    status, headers, data = raw.request("POST", f"/images/create?fromImage={image}&tag=latest")
    assert status == 404, data
    assert headers["Content-Type"] == "application/json"
    body = json.loads(data)
    assert_conforms(body, definition("ErrorResponse"))
    assert "manifest unknown" in body["message"] or "not found" in body["message"]


def test_image_delete(pulled: Raw) -> None:
    tag = f"conf-{uuid.uuid4().hex[:8]}"
    status, _, data = pulled.request("POST", f"/images/busybox/tag?repo={tag}&tag=v1")
    assert status == 201, data
    body = pulled.json("DELETE", f"/images/{tag}:v1")
    assert_conforms(
        body,
        schema_for({"type": "array", "items": {"$ref": "#/definitions/ImageDeleteResponseItem"}}),
    )
    assert body == [{"Untagged": f"{tag}:v1"}]


def test_system_df(pulled: Raw, container: str) -> None:
    body = pulled.json("GET", "/system/df")
    assert_conforms(body, response_schema("/system/df"))
    assert any(row["Id"] == container for row in body["Containers"])
    assert body["LayersSize"] > 0


# -- containers ----------------------------------------------------------------------------


def test_container_create_response(pulled: Raw) -> None:
    body = pulled.json("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]}, 201)
    try:
        assert_conforms(body, definition("ContainerCreateResponse"))
        assert len(body["Id"]) == 64 and body["Warnings"] == []
    finally:
        pulled.request("DELETE", f"/containers/{body['Id']}?force=1")


def test_container_list(pulled: Raw, container: str) -> None:
    body = pulled.json("GET", "/containers/json?all=1")
    assert_conforms(
        body, schema_for({"type": "array", "items": {"$ref": "#/definitions/ContainerSummary"}})
    )
    mine = next(row for row in body if row["Id"] == container)
    assert mine["State"] == "running" and mine["Status"].startswith("Up ")
    assert mine["Labels"] == {"t": "conformance"}
    assert mine["Command"] == "sleep 300"
    assert isinstance(mine["Created"], int)
    assert mine["ImageID"].startswith("sha256:")


def test_container_inspect(pulled: Raw, container: str) -> None:
    body = pulled.json("GET", f"/containers/{container}/json")
    assert_conforms(body, response_schema("/containers/{id}/json"))
    assert body["Id"] == container
    assert isinstance(body["Created"], str) and body["Created"].endswith("Z")
    assert body["State"]["Running"] is True and body["State"]["Pid"] > 0
    assert body["Name"].startswith("/conf-")
    assert body["GraphDriver"]["Name"] == "overlay2"
    assert set(body["GraphDriver"]["Data"]) >= {"LowerDir", "MergedDir", "UpperDir", "WorkDir"}


def test_container_wait(pulled: Raw) -> None:
    created = pulled.json(
        "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sh", "-c", "exit 3"]}, 201
    )
    cid = created["Id"]
    try:
        assert pulled.request("POST", f"/containers/{cid}/start")[0] == 204
        body = pulled.json("POST", f"/containers/{cid}/wait")
        assert_conforms(body, definition("ContainerWaitResponse"))
        assert body == {"StatusCode": 3}  # Error is omitempty in dockerd
    finally:
        pulled.request("DELETE", f"/containers/{cid}?force=1")


def test_exec_inspect(pulled: Raw, container: str) -> None:
    created = pulled.json(
        "POST", f"/containers/{container}/exec", {"Cmd": ["sh", "-c", "exit 5"]}, 201
    )
    assert_conforms(created, definition("IdResponse"))
    schema = response_schema("/exec/{id}/json")
    before = pulled.json("GET", f"/exec/{created['Id']}/json")
    assert_conforms(before, schema)
    assert before["Running"] is False and before["ExitCode"] is None
    # Attached, the start answers once the process has exited and its output is drained.
    status, _, _ = pulled.request("POST", f"/exec/{created['Id']}/start", {"Detach": False})
    assert status == 200
    after = pulled.json("GET", f"/exec/{created['Id']}/json")
    assert_conforms(after, schema)
    assert after["ExitCode"] == 5
    assert after["ContainerID"] == container
    assert after["ProcessConfig"]["entrypoint"] == "sh"


def test_top_and_changes(pulled: Raw, container: str) -> None:
    top = pulled.json("GET", f"/containers/{container}/top")
    assert_conforms(top, response_schema("/containers/{id}/top"))
    assert top["Processes"][0][top["Titles"].index("CMD")] == "sleep 300"
    exec_id = pulled.json(
        "POST", f"/containers/{container}/exec", {"Cmd": ["touch", "/tmp/made"]}, 201
    )["Id"]
    assert pulled.request("POST", f"/exec/{exec_id}/start", {"Detach": False})[0] == 200
    changes = pulled.json("GET", f"/containers/{container}/changes")
    assert_conforms(changes, response_schema("/containers/{id}/changes"))
    assert {"Path": "/tmp/made", "Kind": 1} in changes  # 1: added


def test_events(pulled: Raw) -> None:
    created = pulled.json("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]}, 201)
    cid = created["Id"]
    pulled.request("POST", f"/containers/{cid}/start")
    pulled.json("POST", f"/containers/{cid}/wait")
    pulled.request("DELETE", f"/containers/{cid}")
    # since 0 and until now: the history so far, then the stream ends
    until = int(time.time()) + 1
    status, headers, data = pulled.request("GET", f"/events?since=0&until={until}")
    assert status == 200 and headers["Content-Type"] == "application/json"
    events = [json.loads(line) for line in data.splitlines() if line.strip()]
    schema = definition("EventMessage")
    for event in events:
        assert_conforms(event, schema)
    mine = [e["Action"] for e in events if e["Actor"]["ID"] == cid]
    assert mine == ["create", "start", "die", "destroy"], mine
    # image events name images as dockerd does: familiar references
    pull = next(e for e in events if e["Type"] == "image" and e["Action"] == "pull")
    assert pull["Actor"] == {"ID": "busybox:latest", "Attributes": {"name": "busybox"}}
    assert pull["status"] == "pull" and pull["id"] == "busybox:latest"


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/containers/nope-404/json", 404, "No such container: nope-404"),
        ("GET", "/images/nope-404:x/json", 404, "No such image: nope-404:x"),
        ("DELETE", "/images/nope-404:x", 404, "No such image: nope-404:x"),
        ("GET", "/exec/nope-404/json", 404, "No such exec instance: nope-404"),
        ("POST", "/containers/nope-404/wait", 404, "No such container: nope-404"),
        ("GET", "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", 400, None),
        ("GET", "/images/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", 400, None),
        ("POST", "/containers/create", 400, None),  # no body at all
    ],
)
def test_error_bodies(raw: Raw, method: str, path: str, status: int, message: str | None) -> None:
    got, headers, data = raw.request(method, path)
    assert got == status, data
    assert headers["Content-Type"] == "application/json"
    body = json.loads(data)
    assert_conforms(body, definition("ErrorResponse"))
    if message is not None:
        assert body["message"] == message


def test_conflict_bodies(pulled: Raw, container: str) -> None:
    """409s in dockerd's words: removing a running container, an image a container uses."""
    status, headers, data = pulled.request("DELETE", f"/containers/{container}")
    assert status == 409 and headers["Content-Type"] == "application/json"
    body = json.loads(data)
    assert_conforms(body, definition("ErrorResponse"))
    assert body["message"].startswith('cannot remove container "/conf-')
    assert (
        "container is running: stop the container before removing or force remove"
        in (body["message"])
    )
    image_id = pulled.json("GET", "/images/busybox/json")["Id"]
    status, _, data = pulled.request("DELETE", f"/images/{image_id}")
    assert status == 409
    body = json.loads(data)
    assert_conforms(body, definition("ErrorResponse"))
    assert body["message"].startswith("conflict: unable to delete ")


def test_sizes_on_request(pulled: Raw, container: str) -> None:
    rows = pulled.json("GET", "/containers/json?size=1")
    assert_conforms(
        rows, schema_for({"type": "array", "items": {"$ref": "#/definitions/ContainerSummary"}})
    )
    mine = next(row for row in rows if row["Id"] == container)
    assert mine["SizeRootFs"] >= mine["SizeRw"] >= 0 and mine["SizeRootFs"] > 0
    body = pulled.json("GET", f"/containers/{container}/json?size=1")
    assert_conforms(body, response_schema("/containers/{id}/json"))
    assert body["SizeRootFs"] > 0
