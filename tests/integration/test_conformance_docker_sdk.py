"""docker-py's high-level API over ketchd, each call checked for real values."""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import docker
import pytest
from docker.models.containers import Container

from ketch.testing.daemon import Daemon
from ketch.testing.sdk import sdk_client


@pytest.fixture(scope="module")
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    with sdk_client(ketchd) as client:
        yield client


@pytest.fixture
def sleeper(client: docker.DockerClient) -> Iterator[Container]:
    container = client.containers.run(
        "busybox",
        ["sleep", "300"],
        detach=True,
        name=f"sdk-{uuid.uuid4().hex[:8]}",
        labels={"t": "sdk"},
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def test_containers_list_and_get(client: docker.DockerClient, sleeper: Container) -> None:
    listed = {c.id: c for c in client.containers.list(filters={"label": "t=sdk"})}
    assert sleeper.id in listed
    row = listed[sleeper.id]
    assert row.name == sleeper.name
    assert row.status == "running"
    assert row.labels == {"t": "sdk"}
    assert row.image.tags == ["busybox:latest"]
    attrs = client.containers.get(sleeper.name).attrs
    assert attrs["Id"] == sleeper.id
    assert attrs["Config"]["Cmd"] == ["sleep", "300"]
    assert attrs["State"]["Running"] is True and attrs["State"]["Pid"] > 0
    started = datetime.fromisoformat(attrs["State"]["StartedAt"][:26] + "+00:00")
    assert abs((datetime.now(UTC) - started).total_seconds()) < 3600
    assert attrs["HostConfig"]["LogConfig"]["Type"] == "json-file"


def test_images_list_and_history(client: docker.DockerClient) -> None:
    images = client.images.list(name="busybox")
    assert [image.tags for image in images] == [["busybox:latest"]]
    image = images[0]
    assert image.id.startswith("sha256:") and image.attrs["Size"] > 100_000
    assert image.labels == {}
    history = image.history()
    assert history[0]["Id"] == image.id
    assert history[0]["Tags"] == ["busybox:latest"]
    assert sum(entry["Size"] for entry in history) == image.attrs["Size"]
    assert all(isinstance(entry["Created"], int) for entry in history)


def test_df(client: docker.DockerClient, sleeper: Container) -> None:
    usage = client.df()
    assert usage["LayersSize"] > 0
    busybox = next(i for i in usage["Images"] if "busybox:latest" in i["RepoTags"])
    assert busybox["Containers"] >= 1 and busybox["Size"] > 0
    mine = next(c for c in usage["Containers"] if c["Id"] == sleeper.id)
    assert mine["State"] == "running"
    assert isinstance(mine["SizeRw"], int)
    assert usage["Volumes"] == [] and usage["BuildCache"] == []


def test_top(sleeper: Container) -> None:
    top = sleeper.top()
    assert "PID" in top["Titles"] and "CMD" in top["Titles"]
    cmd = top["Titles"].index("CMD")
    assert [row[cmd] for row in top["Processes"]] == ["sleep 300"]


def test_stats(sleeper: Container) -> None:
    stats = sleeper.stats(stream=False)
    assert stats["id"] == sleeper.id and stats["name"] == f"/{sleeper.name}"
    assert stats["pids_stats"]["current"] == 1
    assert stats["memory_stats"]["usage"] > 0 and stats["memory_stats"]["limit"] > 0
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert stats["cpu_stats"]["online_cpus"] >= 1
    assert stats["read"].endswith("Z")


def test_events_decoded(client: docker.DockerClient) -> None:
    since = int(time.time()) - 1
    container = client.containers.create("busybox", ["true"], labels={"t": "events"})
    try:
        container.start()
        assert container.wait(timeout=30)["StatusCode"] == 0
    finally:
        container.remove(force=True)
    # with an until the stream ends by itself once the window is past
    events = list(client.events(since=since, until=int(time.time()) + 1, decode=True))
    mine = [e for e in events if e.get("Type") == "container" and e["Actor"]["ID"] == container.id]
    actions = [e["Action"] for e in mine]
    for action in ("create", "start", "die", "destroy"):
        assert action in actions, actions
    die = mine[actions.index("die")]
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
    assert die["Actor"]["Attributes"]["t"] == "events"
    assert die["status"] == "die" and die["id"] == container.id
    assert isinstance(die["timeNano"], int) and die["time"] >= since


def test_wait(client: docker.DockerClient) -> None:
    container = client.containers.run("busybox", ["sh", "-c", "exit 7"], detach=True)
    try:
        # dockerd leaves Error out (omitempty) when the wait itself went well
        assert container.wait(timeout=30) == {"StatusCode": 7}
    finally:
        container.remove(force=True)


def test_attach_stream(client: docker.DockerClient) -> None:
    container = client.containers.create(
        "busybox", ["sh", "-c", "echo one; echo two >&2; echo three"]
    )
    try:
        stream = container.attach(stdout=True, stderr=True, stream=True, logs=True)
        container.start()
        # stdout and stderr are two pipes: their relative order is not kept
        assert sorted(b"".join(stream).splitlines()) == [b"one", b"three", b"two"]
        assert container.wait(timeout=30)["StatusCode"] == 0
    finally:
        container.remove(force=True)


def test_put_and_get_archive(sleeper: Container) -> None:
    payload = b"hello from the sdk\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("greeting.txt")
        info.size = len(payload)
        info.mode = 0o640
        tar.addfile(info, io.BytesIO(payload))
    assert sleeper.put_archive("/tmp", buffer.getvalue()) is True
    result = sleeper.exec_run(["cat", "/tmp/greeting.txt"])
    assert result.exit_code == 0 and result.output == payload
    chunks, stat = sleeper.get_archive("/tmp/greeting.txt")
    assert stat["name"] == "greeting.txt" and stat["size"] == len(payload)
    assert stat["mode"] & 0o777 == 0o640
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.getmember("greeting.txt")
        extracted = tar.extractfile(member)
        assert extracted is not None and extracted.read() == payload
    with pytest.raises(docker.errors.NotFound):
        sleeper.get_archive("/no/such/file")


def test_export_running(sleeper: Container) -> None:
    """The container's own root file system, not the /proc and /sys mounted in it."""
    assert sleeper.exec_run(["sh", "-c", "echo kept > /made-here"]).exit_code == 0
    data = b"".join(sleeper.export())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
        made = tar.extractfile("made-here")
        assert made is not None and made.read() == b"kept\n"
    assert "bin/busybox" in names
    assert {"proc", "sys", "dev"} <= names  # the mount points themselves, empty
    assert not [n for n in names if n.startswith(("proc/", "sys/"))]


def test_exec_tty_framed_when_start_says_no_tty(
    client: docker.DockerClient, sleeper: Container
) -> None:
    """docker-py starts a TTY exec with Tty false in the start body and reads frames:
    the framing follows the start body, as on dockerd."""
    api = client.api
    framed = api.exec_create(sleeper.id, ["echo", "hi"], tty=True)
    assert api.exec_start(framed, demux=True) == (b"hi\r\n", None)
    raw = api.exec_create(sleeper.id, ["echo", "hi"], tty=True)
    assert api.exec_start(raw, tty=True) == b"hi\r\n"


def test_kill_answers_once_the_container_is_down(client: docker.DockerClient) -> None:
    for _ in range(3):  # the race it closes was lost most of the time, not always
        container = client.containers.run("busybox", ["sleep", "300"], detach=True)
        try:
            container.kill()
            state = client.api.inspect_container(container.id)["State"]
            assert state["Running"] is False and state["ExitCode"] == 137
            container.remove()  # no 409: it is down
        finally:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def test_group_add(client: docker.DockerClient) -> None:
    out = client.containers.run(
        "busybox", ["id", "-G"], group_add=[4242, "user"], remove=True
    )
    assert sorted(out.decode().split()) == ["0", "1000", "4242"]
    with pytest.raises(docker.errors.APIError, match="Unable to find group nosuch"):
        client.containers.run("busybox", ["true"], group_add=["nosuch"], remove=True)


def test_remove_missing_volume_is_404(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.NotFound, match="no such volume"):
        client.api.remove_volume(f"none-{uuid.uuid4().hex[:8]}")


def test_unknown_log_driver_is_400(client: docker.DockerClient) -> None:
    config = docker.types.LogConfig(type="asdf", config={})
    with pytest.raises(docker.errors.APIError) as caught:
        client.containers.create("busybox", ["true"], log_config=config)
    assert caught.value.status_code == 400
    assert caught.value.explanation == "logger: no log driver named 'asdf' is registered"
