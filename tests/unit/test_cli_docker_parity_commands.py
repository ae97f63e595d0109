"""The container, image and system commands of ketch's CLI against the real docker CLI,
both talking to the same recording fake engine: the same answers must print the same text
with the same exit status, and the same command lines must send the same requests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from ketch.cli.main import run_cli
from ketch.testing.fakeengine import FakeEngine

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")

CONTAINER_ID = "c" * 64
IMAGE_ID = "sha256:" + "a" * 64
CREATED = 1600000000  # long enough ago that "N years ago" is the same for both
MISSING = {"message": "No such container: missing"}


def _container(name: str, state: str, size: int) -> dict[str, Any]:
    return {
        "Id": name[0] * 64,
        "Names": [f"/{name}"],
        "Image": "busybox",
        "ImageID": IMAGE_ID,
        "Command": "sleep 1000",
        "Created": CREATED,
        "Ports": [],
        "SizeRw": size,
        "SizeRootFs": 4000000,
        "Labels": {},
        "State": state,
        "Status": "Up 2 minutes" if state == "running" else "Exited (0) 2 minutes ago",
        "NetworkSettings": {"Networks": {"bridge": {}}},
        "Mounts": [],
    }


SAMPLE = {
    "name": "/web",
    "id": CONTAINER_ID,
    "read": "2025-01-01T00:00:01Z",
    "preread": "2025-01-01T00:00:00Z",
    "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000}, "system_cpu_usage": 2_000_000_000,
                  "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000}, "system_cpu_usage": 1_000_000_000},
    "memory_stats": {"usage": 5_000_000, "limit": 2_000_000_000, "stats": {"inactive_file": 4096}},
    "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 12345},
                                                   {"op": "Write", "value": 999}]},
    "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 700}},
    "pids_stats": {"current": 3},
}  # fmt: skip

EVENT = {
    "status": "die",
    "id": CONTAINER_ID,
    "from": "busybox",
    "Type": "container",
    "Action": "die",
    "Actor": {"ID": CONTAINER_ID, "Attributes": {"name": "web", "exitCode": "0", "a": "<b>"}},
    "scope": "local",
    "time": CREATED,
    "timeNano": CREATED * 1_000_000_000 + 123,
}

NO_VOLUME = {"message": "get missing: no such volume"}
VOLUMES = [
    {"CreatedAt": "2025-01-01T00:00:00Z", "Driver": "local", "Labels": {"tier": "db"},
     "Mountpoint": "/var/lib/ketch/volumes/data/_data", "Name": "data", "Options": None,
     "Scope": "local"},
    {"CreatedAt": "2025-01-01T00:00:00Z", "Driver": "local", "Labels": None,
     "Mountpoint": "/m/data10", "Name": "data10", "Options": {"type": "tmpfs"}, "Scope": "local"},
    {"CreatedAt": "2025-01-01T00:00:00Z", "Driver": "local", "Labels": None,
     "Mountpoint": "/m/data9", "Name": "data9", "Options": None, "Scope": "local",
     "UsageData": {"Size": 1234, "RefCount": 2}},
]  # fmt: skip


@pytest.fixture(scope="module")
def engine() -> Iterator[FakeEngine]:
    with FakeEngine() as fake:
        answer = fake.answer
        answer("GET", "/containers/web/top", {
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": [["root", "4242", "4200", "0", "12:00", "?", "00:00:00", "sleep 1000"],
                          ["root", "4300", "4242", "0", "12:01", "pts/0", "00:00:00", "sh"]],
        })  # fmt: skip
        answer("GET", "/containers/web/changes", [
            {"Kind": 0, "Path": "/etc"}, {"Kind": 1, "Path": "/etc/new"},
            {"Kind": 2, "Path": "/etc/passwd"},
        ])  # fmt: skip
        answer("GET", "/images/busybox/history", [
            {"Id": IMAGE_ID, "Created": CREATED, "CreatedBy": "/bin/sh -c #(nop)\tCMD [\"sh\"] "
             "and a long tail that docker cuts at forty five", "Size": 0, "Comment": "",
             "Tags": ["busybox:latest"]},
            {"Id": "<missing>", "Created": CREATED - 10, "CreatedBy": "ADD file:abc in /",
             "Size": 4_261_550, "Comment": "imported", "Tags": None},
        ])  # fmt: skip
        answer("GET", "/containers/web/stats", SAMPLE)
        listed = _container("web", "running", 0)
        listed["Mounts"] = [
            {
                "Type": "volume",
                "Name": "data",
                "Source": "/v/data",
                "Destination": "/d",
                "Driver": "local",
            },
            {"Type": "bind", "Source": "/tmp", "Destination": "/t"},
        ]
        listed["ImageManifestDescriptor"] = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": 1,
            "digest": "sha256:" + "b" * 64,
            "platform": {"architecture": "amd64", "os": "linux"},
        }
        answer("GET", "/containers/json", [listed, _container("old", "exited", 2048)])
        answer(
            "GET",
            "/images/json",
            [
                {
                    "Id": IMAGE_ID,
                    "ParentId": "",
                    "RepoTags": ["busybox:latest"],
                    "RepoDigests": ["busybox@sha256:" + "d" * 64],
                    "Created": CREATED,
                    "Size": 4_261_550,
                    "SharedSize": -1,
                    "Labels": None,
                    "Containers": -1,
                },
                {
                    "Id": "sha256:" + "e" * 64,
                    "ParentId": "",
                    "RepoTags": ["x:1"],
                    "RepoDigests": [],
                    "Created": CREATED,
                    "Size": 5_000,
                    "SharedSize": 1_000,
                    "VirtualSize": 5_000,
                    "Labels": None,
                    "Containers": 2,
                },
            ],
        )
        answer("GET", "/events", EVENT)
        for path in (
            "/containers/(missing)/(top|changes|stats|export)",
            "/containers/missing/(pause|unpause|rename|update)",
        ):
            answer("GET" if "top" in path else "POST", path, MISSING, 404)
        answer("GET", "/containers/missing/(changes|stats|export)", MISSING, 404)
        answer("GET", "/images/missing/history", {"message": "No such image: missing"}, 404)
        answer("POST", "/containers/web/(pause|unpause|rename)", None, 204)
        answer("POST", "/containers/web/update", {"Warnings": ["a warning"]})
        answer("POST", "/commit", {"Id": IMAGE_ID})
        answer("POST", "/containers/prune", {"ContainersDeleted": ["1" * 64, "2" * 64],
                                             "SpaceReclaimed": 123456})  # fmt: skip
        answer("POST", "/images/prune", {
            "ImagesDeleted": [{"Untagged": "old:1"}, {"Deleted": IMAGE_ID}],
            "SpaceReclaimed": 4_261_550,
        })  # fmt: skip
        answer("POST", "/networks/prune", {"NetworksDeleted": ["net1"]})
        answer("POST", "/volumes/prune", {"VolumesDeleted": ["old1", "old2"],
                                          "SpaceReclaimed": 123456})  # fmt: skip
        answer("GET", "/volumes", {"Volumes": VOLUMES, "Warnings": None})
        answer("POST", "/volumes/create", VOLUMES[0], 201)
        answer("GET", "/volumes/data", VOLUMES[0])
        answer("GET", "/volumes/missing", NO_VOLUME, 404)
        answer("DELETE", "/volumes/missing", NO_VOLUME, 404)
        answer("DELETE", "/volumes/data", None, 204)
        answer("DELETE", "/volumes/busy", {"message": "remove busy: volume is in use - [abc]"},
               409)  # fmt: skip
        answer("POST", "/build/prune", {"CachesDeleted": ["x1", "x2"], "SpaceReclaimed": 2048})
        answer("GET", "/system/df", {
            "LayersSize": 9_000_000,
            "Images": [
                {"Id": IMAGE_ID, "RepoTags": ["busybox:latest"], "RepoDigests": [],
                 "Created": CREATED, "Size": 4_261_550, "SharedSize": 1000, "Containers": 2},
                {"Id": "sha256:" + "b" * 64, "RepoTags": [], "RepoDigests": [],
                 "Created": CREATED, "Size": 768, "SharedSize": 0, "Containers": 0},
            ],
            "Containers": [_container("web", "running", 10), _container("old", "exited", 2048)],
            "Volumes": [],
            "BuildCache": [],
        })  # fmt: skip
        yield fake


class Outcome:
    def __init__(self, code: int, out: str, err: str, sent: list[Any]) -> None:
        self.code, self.out, self.err, self.sent = code, out, err, sent


def _sent(engine: FakeEngine, before: int) -> list[Any]:
    return [
        (r.method, r.path, r.body)
        for r in engine.requests[before:]
        if r.path not in ("/_ping", "/info") and r.method != "HEAD"
    ]


def docker(engine: FakeEngine, *args: str, stdin: str = "") -> Outcome:
    with tempfile.TemporaryDirectory() as config:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DOCKER_HOST": engine.host,
               "DOCKER_CONFIG": config, "HOME": config, "TZ": "UTC"}  # fmt: skip
        before = len(engine.requests)
        done = subprocess.run(["docker", *args], env=env, capture_output=True, text=True,
                              timeout=60, input=stdin)  # fmt: skip
    return Outcome(done.returncode, done.stdout, done.stderr, _sent(engine, before))


def ketch(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> Outcome:
    import io

    capsys.readouterr()
    before = len(engine.requests)
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = run_cli(["-H", engine.host, *args])
    finally:
        sys.stdin = saved
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err, _sent(engine, before))


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


LINES = [
    ["top", "web"],
    ["top", "web", "-o", "pid"],
    ["top", "missing"],
    ["top"],
    ["container", "top", "web"],
    ["diff", "web"],
    ["diff", "missing"],
    ["diff"],
    ["diff", "a", "b"],
    ["history", "busybox"],
    ["history", "--no-trunc", "busybox"],
    ["history", "-q", "busybox"],
    ["history", "-H=false", "busybox"],
    ["history", "--format", "{{json .}}", "busybox"],
    ["history", "--format", "table {{.ID}}\\t{{.Size}}", "busybox"],
    ["history", "--format", "{{.ID}}: {{.CreatedBy}}", "busybox"],
    ["image", "history", "missing"],
    ["pause", "web"],
    ["pause", "web", "missing"],
    ["container", "unpause", "web"],
    ["pause"],
    ["rename", "web", "new"],
    ["rename", "missing", "new"],
    ["rename", "web"],
    ["rename", " ", "x"],
    ["update", "web"],
    ["update", "-m", "64m", "--memory-swap", "-1", "--cpus", "1.5", "web"],
    ["update", "--cpu-shares", "512", "--pids-limit", "100", "--restart", "on-failure:3", "web"],
    ["update", "--memory-reservation", "10m", "--cpuset-cpus", "0", "web", "missing"],
    ["update", "-m", "lots", "web"],
    ["update", "--cpus", "x", "web"],
    ["update", "--restart", "sometimes", "web"],
    ["commit", "web"],
    ["commit", "-a", "me", "-m", "msg", "-p=false", "web", "repo/name:tag"],
    ["commit", "-c", "ENV A=1", "web", "x"],
    ["commit"],
    ["stats", "--no-stream", "web"],
    ["stats", "--no-stream", "--no-trunc", "web"],
    ["stats", "--no-stream"],
    ["stats", "--no-stream", "--format", "{{json .}}"],
    ["stats", "--no-stream", "--format", "table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}"],
    ["stats", "--no-stream", "missing"],
    ["events", "--since", "1", "--until", "2"],
    ["events", "--since", "1", "--until", "2", "--format", "{{json .}}"],
    ["events", "--since", "1", "--until", "2", "--format", "json"],
    ["events", "--since", "1", "--until", "2", "--format", "{{.Type}} {{.Actor.Attributes.name}}"],
    ["events", "--format", "{{.Type"],
    ["system", "events", "--since", "1", "--until", "2", "-f", "type=container"],
    ["container", "prune", "-f"],
    ["container", "prune", "-f", "--filter", "until=1h"],
    ["image", "prune", "-f"],
    ["image", "prune", "-a", "-f", "--filter", "label=a=b"],
    ["builder", "prune", "-f"],
    ["builder", "prune", "-a", "-f"],
    ["system", "prune", "-f"],
    ["system", "prune", "-a", "-f", "--filter", "label=x"],
    ["system", "prune", "--volumes", "-f"],
    ["system", "prune", "--volumes", "-f", "--filter", "until=1h"],
    ["system", "df"],
    ["system", "df", "-v"],
    ["system", "df", "--format", "{{json .}}"],
    ["system", "df", "--format", "{{.Type}}: {{.Size}}"],
    ["system", "df", "-v", "--format", "{{range .Images}}{{.Repository}} {{.UniqueSize}}\n{{end}}"],
    ["system", "bogus"],
    ["container", "bogus"],
    ["ps", "--format", "{{json .}}"],
    ["ps", "--format", "{{.Names}} {{.Platform}} {{.LocalVolumes}} {{.Mounts}}"],
    ["ps", "-a", "--format", "table {{.Names}}\\t{{.Size}}"],
    ["images", "--format", "{{json .}}"],
    ["images", "--digests", "--format", "{{json .}}"],
    ["images", "--format", "{{.Repository}} {{.Digest}} {{.SharedSize}} {{.UniqueSize}}"],
    ["images", "--format", "table {{.ID}}\\t{{.VirtualSize}}\\t{{.Containers}}"],
    ["images", "--format", "table {{.SharedSize}}\\t{{.UniqueSize}}"],
    ["volume"],
    ["volume", "bogus"],
    ["volume", "create"],
    ["volume", "create", "data"],
    [
        "volume",
        "create",
        "-d",
        "local",
        "-o",
        "type=tmpfs",
        "-o",
        "o=size=1m",
        "--label",
        "a=b",
        "--label",
        "c",
        "data",
    ],
    ["volume", "create", "--driver", "other", "--opt", "device=/x", "data"],
    ["volume", "create", "--name", "data"],
    ["volume", "create", "--name", "data", "other"],
    ["volume", "create", "a", "b"],
    ["volume", "create", "--type", "mount", "data"],
    [
        "volume",
        "create",
        "--group",
        "g",
        "--limit-bytes",
        "1k",
        "--secret",
        "b=2",
        "--secret",
        "a=1",
        "--topology-required",
        "zone=a,rack=1",
        "--sharing",
        "all",
        "data",
    ],
    ["volume", "ls"],
    ["volume", "list", "-q"],
    ["volume", "ls", "--filter", "dangling=true", "-f", "label=tier"],
    ["volume", "ls", "--format", "{{json .}}"],
    ["volume", "ls", "--format", "json"],
    ["volume", "ls", "--format", "raw"],
    ["volume", "ls", "-q", "--format", "raw"],
    [
        "volume",
        "ls",
        "--format",
        "table {{.Name}}\\t{{.Labels}}\\t{{.Links}}\\t{{.Size}}\\t{{.Mountpoint}}\\t{{.Scope}}",
    ],
    ["volume", "ls", "--format", "{{.Name}}: {{.Driver}}"],
    ["volume", "ls", "--format", "{{.Bad"],
    ["volume", "ls", "--cluster"],
    ["volume", "ls", "extra"],
    ["volume", "inspect", "data"],
    ["volume", "inspect", "data", "missing"],
    ["volume", "inspect", "-f", "{{.Name}} {{.Labels}} {{.Options}}", "data"],
    ["volume", "inspect", "--format", "json", "data"],
    ["volume", "inspect"],
    ["volume", "rm", "data"],
    ["volume", "rm", "data", "missing", "busy"],
    ["volume", "remove", "-f", "data", "missing"],
    ["volume", "rm"],
    ["volume", "prune", "-f"],
    ["volume", "prune", "-a", "-f", "--filter", "label=x"],
    ["volume", "prune", "-f", "--filter", "label!=x"],
    ["volume", "prune", "-a", "-f", "--filter", "all=1"],
    ["volume", "prune", "x"],
    ["volume", "update", "data"],
    ["cp", "a", "b"],
    ["cp", "web:/a", "other:/b"],
    ["cp", "", "web:/x"],
    ["save", "missing", "-o", "/nonexistent-dir/out.tar"],
    ["export"],
    ["push"],
    ["push", "-a", "busybox:1"],
    ["load", "extra"],
    ["import"],
]


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_prints_and_sends_what_docker_does(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    theirs = docker(engine, *argv)
    ours = ketch(engine, capsys, *argv)
    expected_err = without_banner(theirs.err).replace("docker", "ketch").replace("Docker", "ketch")
    assert (ours.code, ours.out, ours.err) == (theirs.code, theirs.out, expected_err)
    # what was asked of the daemon, but for the order of GETs
    ours_sent = [s for s in ours.sent if s[0] != "GET"]
    theirs_sent = [s for s in theirs.sent if s[0] != "GET"]
    if argv[-2:] == ["web", "missing"]:
        ours_sent, theirs_sent = sorted(ours_sent), sorted(theirs_sent)  # docker's run in parallel
    if argv[0] == "update":
        # docker sends every resource of container.UpdateConfig; zero means "unchanged"
        ours_sent = [(m, p, meaningful(b)) for m, p, b in ours_sent]
        theirs_sent = [(m, p, meaningful(b)) for m, p, b in theirs_sent]
    assert ours_sent == theirs_sent


@pytest.mark.parametrize(
    "argv",
    [
        ["ps"],
        ["ps", "-q"],
        ["ps", "--format", "{{json .}}"],
        ["ps", "--format", "{{.Names}}"],
        ["ps", "--format", "table {{.Names}}\t{{.Size}}"],
        ["ps", "--size=false", "--format", "{{.Size}}"],
        ["ps", "-q", "--format", "{{.Size}}"],
        ["ps", "-s"],
    ],
    ids=" ".join,
)
def test_ps_asks_for_sizes_when_docker_does(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """docker asks with size=1 when the format shows `.Size` (a query, so not in `sent`)."""

    def queries(before: int) -> list[str]:
        return [r.query for r in engine.requests[before:] if r.path == "/containers/json"]

    before = len(engine.requests)
    theirs = docker(engine, *argv)
    theirs_queries = queries(before)
    before = len(engine.requests)
    ours = ketch(engine, capsys, *argv)
    assert (ours.code, ours.out) == (theirs.code, theirs.out)
    assert queries(before) == theirs_queries


def meaningful(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value not in (None, 0, "", [], {})}


def without_banner(text: str) -> str:
    """docker's own advice to install buildx, which is no business of ketch's."""
    if text.startswith("DEPRECATED: The legacy builder"):
        return text.split("\n\n", 1)[1]
    return text


@pytest.mark.parametrize(
    "argv",
    [
        ["container", "prune"],
        ["image", "prune", "-a"],
        ["builder", "prune"],
        ["system", "prune", "--filter", "label=a", "--filter", "until=2h"],
        ["volume", "prune"],
        ["volume", "prune", "-a", "--filter", "label=a"],
    ],  # fmt: skip
    ids=" ".join,
)
@pytest.mark.parametrize("answer", ["y\n", "n\n"])
def test_prunes_ask_as_docker_asks(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], argv: list[str], answer: str
) -> None:
    theirs = docker(engine, *argv, stdin=answer)
    ours = ketch(engine, capsys, *argv, stdin=answer)
    assert (ours.code, ours.out, ours.err) == (theirs.code, theirs.out, without_banner(theirs.err))
