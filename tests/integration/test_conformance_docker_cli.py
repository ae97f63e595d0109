"""The real docker CLI's read commands against ketchd: no warnings, no errors, and values
where Docker shows values (no "<no value>", no "N/A" a dockerd would have filled)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ketch

SIZE = re.compile(r"^\d+(\.\d+)?(B|kB|MB|GB)$")
AGO = re.compile(r"^(Less than a second|About a minute|About an hour|\d+ \w+) ago$")
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \w+$")  # Go's time.String


def docker(env: dict[str, str], *args: str) -> str:
    """Run the docker CLI; it must succeed and say nothing on stderr."""
    done = subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert done.stderr == "", (args, done.stderr)
    assert "<no value>" not in done.stdout, (args, done.stdout)
    return done.stdout


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def running(docker_env: dict[str, str]) -> Iterator[str]:
    """A running busybox container with a label, and a finished hello-world one."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    docker(docker_env, "pull", "-q", "busybox")
    docker(docker_env, "pull", "-q", "hello-world")
    docker(docker_env, "run", "-d", "--name", name, "-l", "t=cli", "busybox", "sleep", "300")
    docker(docker_env, "run", "--name", name + "-done", "hello-world")
    try:
        yield name
    finally:
        subprocess.run(
            ["docker", "rm", "-f", name, name + "-done"],
            env=docker_env,
            capture_output=True,
            timeout=60,
            check=False,
        )


def test_inspect_container_and_image(docker_env: dict[str, str], running: str) -> None:
    [container] = json.loads(docker(docker_env, "inspect", running))
    assert container["Name"] == f"/{running}"
    assert container["State"]["Running"] is True
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", container["Created"])
    host = container["HostConfig"]
    # the CLI sends zero values for these; dockerd shows what the container really has
    assert host["LogConfig"]["Type"] == "json-file"
    assert host["ShmSize"] == 64 * 1024 * 1024
    assert host["IpcMode"] == "private"
    assert host["PidsLimit"] is None
    assert "/proc/kcore" in host["MaskedPaths"] and "/proc/sys" in host["ReadonlyPaths"]
    assert container["GraphDriver"]["Data"]["UpperDir"].endswith("/upper")
    bridge = container["NetworkSettings"]["Networks"]["bridge"]  # the default bridge
    assert bridge["IPAddress"] == container["NetworkSettings"]["IPAddress"] != ""
    assert bridge["MacAddress"].startswith("02:42:") and bridge["Gateway"]
    [image] = json.loads(docker(docker_env, "inspect", "--type", "image", "busybox"))
    assert image["RepoTags"] == ["busybox:latest"]
    assert image["RepoDigests"][0].startswith("busybox@sha256:")
    assert image["RootFS"]["Layers"]
    # Go templates over the same objects
    assert docker(docker_env, "inspect", "-f", "{{.State.Status}} {{.Config.Image}}", running) == (
        "running busybox\n"
    )


def test_ps_json(docker_env: dict[str, str], running: str) -> None:
    rows = {
        row["Names"]: row
        for row in json_lines(docker(docker_env, "ps", "-a", "--format", "{{json .}}"))
    }
    row = rows[running]
    assert row["Image"] == "busybox"
    assert row["Command"] == '"sleep 300"'
    assert row["State"] == "running" and row["Status"].startswith("Up ")
    assert row["Labels"] == "t=cli"
    assert row["Networks"] == "bridge"
    assert GO_TIME.match(row["CreatedAt"]), row["CreatedAt"]
    assert AGO.match(row["RunningFor"]), row["RunningFor"]
    assert re.match(r"^[0-9a-f]{12}$", row["ID"])
    done = rows[running + "-done"]
    assert done["State"] == "exited" and done["Status"].startswith("Exited (0) ")
    table = docker(docker_env, "ps", "-a")
    assert running in table and "N/A" not in table


def test_images_json(docker_env: dict[str, str], running: str) -> None:
    rows = json_lines(docker(docker_env, "images", "--format", "{{json .}}"))
    busybox = next(row for row in rows if row["Repository"] == "busybox")
    assert busybox["Tag"] == "latest"
    assert re.match(r"^[0-9a-f]{12}$", busybox["ID"])
    assert SIZE.match(busybox["Size"]), busybox["Size"]
    assert AGO.match(busybox["CreatedSince"]), busybox["CreatedSince"]
    assert GO_TIME.match(busybox["CreatedAt"]), busybox["CreatedAt"]
    # with {{.Digest}} asked for, the repo digest from the pull shows
    digests = docker(docker_env, "images", "--format", "{{.Repository}} {{.Digest}}", "busybox")
    assert re.match(r"^busybox sha256:[0-9a-f]{64}$", digests.strip()), digests
    table = docker(docker_env, "images")
    assert "N/A" not in table and "busybox" in table


def test_version(docker_env: dict[str, str]) -> None:
    text = docker(docker_env, "version")
    server = text[text.index("Server:") :]
    assert "API version:      1.45 (minimum version 1.24)" in server
    labels = ["Version:", "Built:", "OS/Arch:"]
    if any((d / ".git").is_dir() for d in Path(ketch.__file__).resolve().parents):
        labels.append("Git commit:")  # known when ketch runs from a checkout
    for label in labels:
        line = next(line for line in server.splitlines() if line.strip().startswith(label))
        assert line.split(":", 1)[1].strip(), line  # a value, not blank
    assert f"Version:          {ketch.__version__}" in server
    info = json.loads(docker(docker_env, "version", "--format", "{{json .}}"))
    assert info["Server"]["Components"][0]["Name"] == "Engine"
    assert info["Server"]["Os"] == "linux"


def test_info(docker_env: dict[str, str], running: str) -> None:
    text = docker(docker_env, "info")
    assert "WARNING" not in text and "ERROR" not in text
    assert " Storage Driver: overlay2" in text
    assert " Server Version: " in text
    assert re.search(r" Containers: \d+\n  Running: [1-9]", text)
    for label in ("containerd version:", "runc version:", "Kernel Version:", "Total Memory:"):
        line = next(line for line in text.splitlines() if line.strip().startswith(label))
        assert line.split(":", 1)[1].strip(), line
    info = json.loads(docker(docker_env, "info", "--format", "{{json .}}"))
    assert not info.get("ServerErrors"), info.get("ServerErrors")
    assert info["ContainersRunning"] >= 1


def test_system_df(docker_env: dict[str, str], running: str) -> None:
    rows = {
        row["Type"]: row
        for row in json_lines(docker(docker_env, "system", "df", "--format", "{{json .}}"))
    }
    assert set(rows) == {"Images", "Containers", "Local Volumes", "Build Cache"}
    images = rows["Images"]
    assert int(images["TotalCount"]) >= 2 and int(images["Active"]) >= 2
    assert SIZE.match(images["Size"]), images
    assert re.match(r"^\d+(\.\d+)?(B|kB|MB|GB) \(\d+%\)$", images["Reclaimable"]), images
    assert int(rows["Containers"]["TotalCount"]) >= 2 and int(rows["Containers"]["Active"]) >= 1
    verbose = docker(docker_env, "system", "df", "-v")
    assert running in verbose and "N/A" not in verbose


def test_history(docker_env: dict[str, str], running: str) -> None:
    rows = json_lines(
        docker(docker_env, "history", "--no-trunc", "--format", "{{json .}}", "busybox")
    )
    top = rows[0]
    assert re.match(r"^sha256:[0-9a-f]{64}$", top["ID"])
    assert SIZE.match(top["Size"]) and top["Size"] != "0B"
    assert AGO.match(top["CreatedSince"]), top
    assert top["CreatedBy"]
    table = docker(docker_env, "history", "busybox")
    assert "N/A" not in table and "ago" in table


def test_events(docker_env: dict[str, str]) -> None:
    since = str(int(time.time()) - 1)
    docker(docker_env, "pull", "-q", "busybox")
    name = f"cli-ev-{uuid.uuid4().hex[:8]}"
    docker(docker_env, "run", "--rm", "--name", name, "busybox", "true")
    until = f"{time.time():.9f}"  # now: `run --rm` returns once the destroy is out
    text = docker(docker_env, "events", "--since", since, "--until", until)
    lines = text.splitlines()
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z "
    assert any(re.match(stamp + r"image pull busybox:latest \(name=busybox\)$", x) for x in lines)
    for action in ("create", "start", "die", "destroy"):
        pattern = stamp + rf"container {action} [0-9a-f]{{64}} \(.*name={name}.*\)$"
        assert any(re.match(pattern, line) for line in lines), (action, text)
    rows = json_lines(
        docker(docker_env, "events", "--since", since, "--until", until, "--format", "{{json .}}")
    )
    die = next(r for r in rows if r["Action"] == "die" and r["Actor"]["Attributes"]["name"] == name)
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
