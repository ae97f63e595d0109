"""Throw malformed requests at a live ketchd and list every answer that is a 5xx
(or a 4xx whose message reads like Python's insides rather than the problem).

The routes come from ketchd's own route table; their parameters and body schemas
from the Docker Engine API's Swagger YAML (given as an argument). For each route
it sends, next to valid values for everything else:
  - odd path parameters (empty, "..", unicode, %00, very long, invalid UTF-8),
  - query parameters of the wrong type (bools "maybe", ints "x"/"-1"/huge,
    filters that are not a JSON object of lists of strings),
  - bodies that are not JSON, not UTF-8, JSON of the wrong type, and objects whose
    fields, one at a time, hold the wrong type, a huge or negative number,
  - bad X-Registry-Auth and Content-Type headers,
then a bounded number of seeded random mixes of the above. It starts its own
registry and ketchd (cleaned up on exit) and keeps a running container, an exec
and an image around to aim at.

    .venv/bin/python bench/fuzz_api.py SPEC.yaml [--seed 1] [--random 300] [--time 600]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import socket
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ketch.testing import images
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import run_registry

TIMEOUT = 4.0  # a stream that outlives this has answered its status already
PYTHON_INSIDES = re.compile(
    r"Traceback|object has no attribute|NoneType|<class |unhashable|not subscriptable|"
    r"positional argument|unsupported operand|invalid literal for|codec can't|"
    r"object is not|'(int|str|list|dict|float|bool)' object|\[Errno"
)

BAD_PATH_VALUES = ["", "..", "%2E%2E", "%2F", "é", "%C3%A9", "%00", "%FF", "x" * 5000, " ", "a%2Fb"]
BAD_BOOLS = ["maybe", "", "2", "%00"]
BAD_INTS = ["x", "-1", "99999999999999999999", "1.5", "", "1e3", "%00", "-99999999999999999999"]
BAD_STRINGS = ["", "%00", "%FF", "x" * 5000, "é", "-1", "..%2F..%2Fx", "a b"]
BAD_FILTERS = [
    "4", "[]", "null", "true", '"s"', "{", '{"x":1}', '{"x":"y"}', '{"status":4}',
    '{"label":[1]}', '{"label":{"a":"b"}}', '{"label":{"a":1}}', '{"dangling":["x"]}',
    '{"dangling":4}', '{"until":["x"]}', '{"until":[4]}', '{"before":["nope"]}',
    '{"since":["nope"]}', '{"exited":["x"]}', '{"reference":[1]}', '{"x":[null]}',
    '{"id":[[]]}', '{"name":{"a":[]}}', "%FF", '{"event":["x"]}', '{"type":["x"]}',
]  # fmt: skip
BAD_BODIES: list[bytes] = [
    b"{", b"\xff\xfe\x00", b'{"Image": "\xff"}', b"[]", b"[1]", b"1", b"-1", b'"s"',
    b"null", b"true", b"{}{}", b'{"a":1} x', b"1e999", b'{"a":' * 2000, b"\x00",
]  # fmt: skip
WRONG_VALUES: list[Any] = [
    "x", 99999999999999999999999, 2**63 - 1, -1, -99999999999999999999999, 1.5, True, None,
    [], {}, [1], {"a": 1}, "", "\x00", "x" * 5000,
]  # fmt: skip
BAD_HEADERS: list[dict[str, str]] = [
    {"X-Registry-Auth": "!!!"},
    {"X-Registry-Auth": "e30"},  # "{}"
    {"X-Registry-Auth": "WzFd"},  # "[1]"
    {"X-Registry-Auth": "_w"},  # b"\xff"
    {"X-Registry-Auth": "eyJ1c2VybmFtZSI6IDF9"},  # {"username": 1}
    {"X-Registry-Auth": "bnVsbA"},  # "null"
    {"Content-Type": "text/plain"},
    {"Content-Type": ";;;"},
    {"Content-Type": "application/json; charset=latin1"},
]


@dataclass
class Case:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    what: str = ""

    def url(self) -> str:
        # Values are sent as given (already percent-encoded where they mean to be).
        return self.path + ("?" + "&".join(f"{k}={v}" for k, v in self.query) if self.query else "")


@dataclass
class Answer:
    status: int
    message: str


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(self.socket_path)
        self.sock = sock


def send(daemon: Daemon, case: Case) -> Answer:
    connection = UnixConnection(str(daemon.socket_path))
    headers = dict(case.headers)
    if case.body is not None:
        headers.setdefault("Content-Type", "application/json")
    try:
        connection.putrequest(case.method, case.url(), skip_accept_encoding=True)
        for key, value in headers.items():
            connection.putheader(key, value)
        if case.body is not None:
            connection.putheader("Content-Length", str(len(case.body)))
        connection.endheaders(case.body)
        response = connection.getresponse()
        if response.status < 400:
            return Answer(response.status, "")  # a stream may go on: its status is the point
        payload = response.read()
        try:
            message = json.loads(payload).get("message", "")
        except (ValueError, AttributeError):
            message = payload.decode(errors="replace")
        return Answer(response.status, str(message))
    except TimeoutError:
        return Answer(0, "timeout")
    except (http.client.HTTPException, OSError) as exc:
        return Answer(-1, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def call_json(daemon: Daemon, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    connection = UnixConnection(str(daemon.socket_path))
    connection.timeout = 60
    try:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        connection.request(method, url, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        try:
            return response.status, json.loads(payload.splitlines()[-1]) if payload else None
        except ValueError:
            return response.status, payload
    finally:
        connection.close()


class Fixtures:
    """A running container, an exec in it and a tagged image, remade when a case removed them."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.container = ""
        self.exec_id = ""

    def ensure(self) -> None:
        status, _ = call_json(self.daemon, "GET", "/images/busybox/json")
        if status != 200:
            call_json(self.daemon, "POST", "/images/create?fromImage=busybox&tag=latest")
        status, info = call_json(self.daemon, "GET", "/containers/fuzz/json")
        if status == 200 and info["State"]["Running"] and not info["State"]["Paused"]:
            self.container = info["Id"]
        else:
            call_json(self.daemon, "DELETE", "/containers/fuzz?force=1")
            status, made = call_json(self.daemon, "POST", "/containers/create?name=fuzz",
                                     {"Image": "busybox", "Cmd": ["sleep", "100000"]})  # fmt: skip
            assert status == 201, made
            self.container = made["Id"]
            call_json(self.daemon, "POST", "/containers/fuzz/start")
            self.exec_id = ""
        status, _ = call_json(self.daemon, "GET", f"/exec/{self.exec_id or 'none'}/json")
        if status != 200:
            status, made = call_json(self.daemon, "POST", "/containers/fuzz/exec",
                                     {"Cmd": ["true"]})  # fmt: skip
            self.exec_id = made["Id"] if status == 201 else "none"

    def value_for(self, path: str, name: str) -> str:
        if path.startswith("/exec/"):
            return self.exec_id
        if path.startswith("/images/"):
            return "busybox"
        if path.startswith("/networks/"):
            return "host"
        if path.startswith("/volumes/"):
            return "v"
        return "fuzz"


def served_routes() -> list[tuple[str, str]]:
    """ketchd's (method, path) pairs, with path patterns as the spec writes them."""
    from ketch.api import containers, exec, images, networks, system, volumes

    routes = []
    for module in (system, images, containers, exec, networks, volumes):
        for method, path, _ in module.ROUTES:
            routes.append((method, re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)))
    return routes


def resolve(spec: dict[str, Any], schema: dict[str, Any] | None, depth: int = 0) -> dict[str, Any]:
    """A schema with $ref and allOf flattened into one object's properties."""
    if not schema or depth > 6:
        return {}
    if "$ref" in schema:
        return resolve(spec, spec["definitions"][schema["$ref"].rsplit("/", 1)[1]], depth + 1)
    merged = dict(schema)
    if "allOf" in schema:
        properties: dict[str, Any] = {}
        for part in schema["allOf"]:
            properties.update(resolve(spec, part, depth + 1).get("properties", {}))
        merged = {"type": "object", "properties": {**properties, **schema.get("properties", {})}}
    return merged


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return spec["paths"].get(path, {}).get(method.lower(), {})


def base_query(method: str, path: str) -> list[tuple[str, str]]:
    """What keeps a case about the parameter under test: streams end, required values are set."""
    if path == "/events":
        return [("until", "1")]
    if path.endswith("/stats"):
        return [("stream", "0")]
    if path.endswith("/logs"):
        return [("stdout", "1")]
    if path.endswith("/archive"):
        return [("path", "/etc")]
    if path == "/commit":
        return [("container", "fuzz")]
    if path == "/images/create":
        return [("fromImage", "busybox"), ("tag", "latest")]
    if path.endswith("/tag"):
        return [("repo", "fuzzed")]
    return []


def fill(path: str, fixtures: Fixtures, override: dict[str, str] | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if override and name in override:
            return urllib.parse.quote(override[name], safe="%")
        return urllib.parse.quote(fixtures.value_for(path, name), safe="")

    return re.sub(r"\{(\w+)\}", value, path)


def query_values(parameter: dict[str, Any]) -> list[str]:
    if parameter["name"] == "filters":
        return [urllib.parse.quote(v, safe="%") for v in BAD_FILTERS]
    kind = parameter.get("type")
    if kind == "boolean":
        return BAD_BOOLS
    if kind == "integer":
        return BAD_INTS
    return [urllib.parse.quote(v, safe="%") for v in BAD_STRINGS]


def field_paths(
    spec: dict[str, Any], schema: dict[str, Any], depth: int = 0
) -> Iterator[tuple[str, Any]]:
    """Every field down to three levels, with a function that puts a value there: objects
    nest as objects, lists of objects as a one-element list."""
    resolved = resolve(spec, schema)
    for name, prop in resolved.get("properties", {}).items():
        yield name, lambda value, name=name: {name: value}
        if depth >= 2:
            continue
        inner = resolve(spec, prop)
        if inner.get("type") == "array" and isinstance(inner.get("items"), dict):
            for sub_name, place in field_paths(spec, inner["items"], depth + 1):
                yield (f"{name}[].{sub_name}",
                       lambda value, name=name, place=place: {name: [place(value)]})  # fmt: skip
        elif inner.get("properties"):
            for sub_name, place in field_paths(spec, inner, depth + 1):
                yield (f"{name}.{sub_name}",
                       lambda value, name=name, place=place: {name: place(value)})  # fmt: skip


def body_variants(spec: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    yield from ((f"body {raw[:20]!r}", raw) for raw in BAD_BODIES)
    for name, place in field_paths(spec, schema):
        for wrong in WRONG_VALUES:
            yield f"body {name}={wrong!r}"[:80], json.dumps(place(wrong)).encode()


def cases_for(
    spec: dict[str, Any], method: str, path: str, fixtures: Fixtures
) -> Iterator[Case]:
    op = operation(spec, method, path)
    parameters = op.get("parameters", [])
    base = base_query(method, path)
    for parameter in parameters:
        if parameter["in"] == "path":
            for odd in BAD_PATH_VALUES:
                yield Case(method, fill(path, fixtures, {parameter["name"]: odd}), base,
                           what=f"path {parameter['name']}={odd[:20]!r}")  # fmt: skip
        elif parameter["in"] == "query":
            for bad in query_values(parameter):
                query = [(k, v) for k, v in base if k != parameter["name"]]
                yield Case(method, fill(path, fixtures), [*query, (parameter["name"], bad)],
                           what=f"query {parameter['name']}={bad[:30]}")  # fmt: skip
        elif parameter["in"] == "body" and "schema" in parameter:
            schema = parameter["schema"]
            if path == "/containers/create":
                schema = {"allOf": [{"$ref": "#/definitions/ContainerConfig"}, {
                    "properties": {"HostConfig": {"$ref": "#/definitions/HostConfig"},
                                   "NetworkingConfig": {"$ref": "#/definitions/NetworkingConfig"}}
                }]}  # fmt: skip
            if resolve(spec, schema).get("type") in ("object", None) and (
                schema.get("format") != "binary"
            ):
                for what, raw in body_variants(spec, schema):
                    yield Case(method, fill(path, fixtures), base, raw, what=what)
        elif parameter["in"] == "header":
            for headers in BAD_HEADERS:
                if parameter["name"] in headers:
                    yield Case(method, fill(path, fixtures), base, headers=headers,
                               what=f"header {headers}")  # fmt: skip
    if method in ("POST", "PUT"):
        for headers in BAD_HEADERS:
            if "Content-Type" in headers:
                yield Case(method, fill(path, fixtures), base, b"{}", headers,
                           what=f"header {headers}")  # fmt: skip


def random_case(rng: random.Random, spec: dict[str, Any], routes: list[tuple[str, str]],
                fixtures: Fixtures) -> Case:  # fmt: skip
    """Several wrong things at once on one route."""
    method, path = rng.choice(routes)
    op = operation(spec, method, path)
    query = list(base_query(method, path))
    for parameter in op.get("parameters", []):
        if parameter["in"] == "query" and rng.random() < 0.5:
            query.append((parameter["name"], rng.choice(query_values(parameter))))
    override = {}
    if rng.random() < 0.3:
        for name in re.findall(r"\{(\w+)\}", path):
            override[name] = rng.choice(BAD_PATH_VALUES)
    body = None
    if method in ("POST", "PUT") and rng.random() < 0.5:
        fields = {f"F{i}": rng.choice(WRONG_VALUES) for i in range(rng.randint(0, 3))}
        known = ["Image", "Cmd", "HostConfig", "Env", "Memory", "Detach", "Tty", "Labels"]
        fields.update({rng.choice(known): rng.choice(WRONG_VALUES) for _ in range(2)})
        body = rng.choice([json.dumps(fields).encode(), rng.choice(BAD_BODIES)])
    headers = rng.choice([{}, {}, *BAD_HEADERS])
    return Case(method, fill(path, fixtures, override), query, body, headers, what="random")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="the Engine API's Swagger YAML")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--random", type=int, default=300, help="random mixed cases after")
    parser.add_argument("--max-cases", type=int, default=20000)
    parser.add_argument("--time", type=float, default=900.0, help="stop after this many seconds")
    parser.add_argument("--only", default="", help="routes whose path contains this")
    args = parser.parse_args()
    spec = yaml.safe_load(args.spec.read_text())
    routes = [r for r in served_routes() if args.only in r[1]]
    missing = [r for r in routes if not operation(spec, *r)]
    if missing:
        print(f"not in the spec (fuzzed with path and header cases only): {missing}")
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.time
    findings: dict[tuple[int, str, str, str], Case] = {}
    count = 0
    with tempfile.TemporaryDirectory() as tmp, run_registry(Path(tmp)) as registry:
        images.push_sync(images.busybox(), registry.url, repo="library/busybox")
        daemon = run_daemon(Path(tmp), mirrors=[registry.url])
        try:
            fixtures = Fixtures(daemon)
            fixtures.ensure()

            def all_cases() -> Iterator[Case]:
                for method, path in routes:
                    yield from cases_for(spec, method, path, fixtures)
                for _ in range(args.random):
                    yield random_case(rng, spec, routes, fixtures)

            for case in all_cases():
                if count >= args.max_cases or time.monotonic() > deadline:
                    print("stopped at the bound")
                    break
                count += 1
                answer = send(daemon, case)
                suspicious = answer.status >= 400 and PYTHON_INSIDES.search(answer.message)
                if answer.status >= 500 or answer.status == -1 or suspicious:
                    key = (answer.status, case.method, re.sub(r"/[^/]{30,}", "/<long>",
                           case.path)[:60], answer.message[:100])  # fmt: skip
                    if key not in findings:
                        findings[key] = case
                        body = case.body[:60] if case.body else ""
                        print(f"{answer.status} {case.method} {case.url()[:150]} [{case.what}] "
                              f"{body!r} {case.headers or ''} -> {answer.message[:200]}",
                              flush=True)  # fmt: skip
                if daemon.process.poll() is not None:
                    print("ketchd died:\n" + daemon.log()[-3000:])
                    return 2
                if case.method in ("POST", "DELETE", "PUT"):
                    fixtures.ensure()
        finally:
            daemon.stop()
    print(f"{count} cases, {len(findings)} distinct findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
