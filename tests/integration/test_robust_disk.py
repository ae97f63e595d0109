"""A full disk under a real ketchd: its data root on a small tmpfs mounted by the test.

A pull that does not fit fails with "no space left on device" and leaves no
half-stored blob or layer, images already there still run, and once space is
freed the same pull succeeds. A container whose log fills the disk does not take
the daemon down."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.snapshots import chain_ids
from ketch.testing import images
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import RegistryServer, run_registry

pytestmark = pytest.mark.integration

DISK_SIZE = 48 * 1024 * 1024
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with run_registry(tmp_path_factory.mktemp("registry")) as server:
        images.push_sync(images.busybox(), server.url, repo="disk/busybox", tag="latest")
        images.push_sync(images.redis(), server.url, repo="disk/redis", tag="latest")
        yield server


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs where run_daemon puts the data root; unmounted even when the test fails."""
    base = tmp_path / "ketchd"
    base.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "tmpfs", str(base)],
        check=True,
    )
    try:
        yield base
    finally:
        subprocess.run(["umount", "--lazy", str(base)], check=False)


@pytest.fixture
def daemon(tmp_path: Path, small_disk: Path) -> Iterator[Daemon]:
    daemon = run_daemon(tmp_path)
    assert daemon.data_root.parent == small_disk
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def api(daemon: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=daemon.url, version="1.45", timeout=120)
    try:
        yield client
    finally:
        client.close()


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(disk: Path, leave: int) -> Path:
    """A file taking all but `leave` bytes of the disk."""
    filler = disk / "filler"
    with open(filler, "ab") as out:
        os.posix_fallocate(out.fileno(), 0, filler.stat().st_size + free_bytes(disk) - leave)
    return filler


def pull(api: docker.APIClient, ref: str) -> list[dict]:
    repository, tag = ref.rsplit(":", 1)
    return list(api.pull(repository, tag=tag, stream=True, decode=True))


def run_echo(api: docker.APIClient, image: str, text: str) -> bytes:
    container = api.create_container(image, ["echo", text])["Id"]
    try:
        api.start(container)
        assert api.wait(container, timeout=60)["StatusCode"] == 0
        return api.logs(container)
    finally:
        api.remove_container(container, force=True)


def test_a_pull_that_does_not_fit_fails_clearly_and_leaves_nothing_half_stored(
    daemon: Daemon, api: docker.APIClient, small_disk: Path, registry: RegistryServer
) -> None:
    busybox = f"{registry.host_port}/disk/busybox:latest"
    redis_ref = f"{registry.host_port}/disk/redis:latest"
    assert pull(api, busybox)[-1]["status"].startswith("Status: Downloaded newer image")
    redis = images.redis()
    filler = fill(small_disk, leave=4 * MIB)  # less than redis's 6.9 MB layer alone

    messages = pull(api, redis_ref)
    error = messages[-1].get("error", "")
    assert error.endswith(": no space left on device"), messages[-1]
    assert error.startswith(("write ", "mkdir ", "open ")), error
    assert messages[-1]["errorDetail"]["message"] == error
    # Nothing half-stored: no image, no partial or blob of the layer that did not fit,
    # no layer directory of redis's, no half-unpacked one.
    assert [t for i in api.images() for t in i["RepoTags"]] == [busybox]
    data = daemon.data_root
    big = redis.layer_digests[0].split(":", 1)[1]
    assert not (data / "content/blobs/sha256" / big).exists()
    assert list((data / "content/ingest").iterdir()) == []
    layers = {p.name for p in (data / "snapshots/layers").iterdir()}
    assert not layers & {c.split(":", 1)[1] for c in chain_ids(redis.diff_ids)}
    assert not [name for name in layers if name.startswith(".")]

    # What is already here still runs, and the daemon answers.
    assert run_echo(api, busybox, "still here") == b"still here\n"
    assert api.ping() is True and daemon.process.poll() is None

    # Space back: the same pull succeeds and the image runs.
    filler.unlink()
    messages = pull(api, redis_ref)
    assert messages[-1] == {"status": f"Status: Downloaded newer image for {redis_ref}"}
    assert api.inspect_image(redis_ref)["Id"] == redis.id
    container = api.create_container(redis_ref, ["redis-server", "--version"])["Id"]
    try:
        api.start(container)
        assert api.wait(container, timeout=60)["StatusCode"] == 0
        assert b"Redis server v=" in api.logs(container)
    finally:
        api.remove_container(container, force=True)


def test_a_container_whose_log_fills_the_disk(
    daemon: Daemon, api: docker.APIClient, small_disk: Path, registry: RegistryServer
) -> None:
    busybox = f"{registry.host_port}/disk/busybox:latest"
    pull(api, busybox)
    filler = fill(small_disk, leave=3 * MIB)
    container = api.create_container(
        busybox,
        ["sh", "-c", "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done"],
        host_config=api.create_host_config(
            log_config={"Type": "json-file", "Config": {"max-size": "1g"}}
        ),
    )["Id"]
    try:
        api.start(container)
        # Until the log has taken the rest of the disk (the condition, not a time, ends it).
        # Judged when seen: the shim cuts a torn line off again, so the free space
        # after the moment the disk was full may be a little more.
        deadline = time.monotonic() + 120
        filled = False
        while not filled and time.monotonic() < deadline:
            filled = free_bytes(small_disk) <= 64 * 1024
            time.sleep(0.05)
        assert filled, "the log never filled the disk"
        # The daemon is up, and the container runs on: its output is lost to the log
        # while the disk is full, not its life.
        assert api.ping() is True and daemon.process.poll() is None
        state = api.inspect_container(container)["State"]
        assert state["Running"] is True, state
        pid = state["Pid"]
        assert Path(f"/proc/{pid}/stat").exists()
        assert api.logs(container, tail=2).endswith(b"x\n")
        api.kill(container)
        assert api.wait(container, timeout=60)["StatusCode"] == 137
        # The log written reads back: whole JSON lines, no torn one at the end. (Read
        # once the writer is gone: while it runs, a short write is on disk for the
        # moment before the shim cuts it off again.)
        log_path = Path(api.inspect_container(container)["LogPath"])
        last = log_path.read_bytes()[-500:].rsplit(b"\n", 2)[-2]
        assert json.loads(last[last.index(b"{") :])["log"].startswith("xxxx")
        assert log_path.read_bytes().endswith(b"\n")
        # No stray temp file from a state write that met the full disk.
        leftovers = [p.name for p in log_path.parent.iterdir() if p.name.startswith(".")]
        assert leftovers == []
        # Not a byte left: creating a container fails in dockerd's words, leaving nothing.
        fill(small_disk, leave=0)
        before = sorted(p.name for p in (daemon.data_root / "containers").iterdir())
        with pytest.raises(docker.errors.APIError) as caught:
            api.create_container(busybox, ["true"])
        assert caught.value.response.status_code == 500
        assert re.fullmatch(r"(write|open|mkdir) /\S+: no space left on device",
                            caught.value.explanation), caught.value.explanation  # fmt: skip
        assert sorted(p.name for p in (daemon.data_root / "containers").iterdir()) == before
        assert api.ping() is True and daemon.process.poll() is None
    finally:
        api.remove_container(container, force=True)
    # Its log went with it: the space is back and new containers run.
    filler.unlink()
    assert free_bytes(small_disk) > 30 * MIB
    assert run_echo(api, busybox, "after") == b"after\n"
