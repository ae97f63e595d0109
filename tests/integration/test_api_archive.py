"""`docker cp` through ketchd: both ways, running and stopped, and no way out of the root."""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.testing.daemon import Daemon
from ketch.testing.sdk import sdk_client

pytestmark = pytest.mark.integration


@pytest.fixture
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    with sdk_client(ketchd, "ketch-cp") as client:
        yield client


def docker_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60)


def make(client: docker.DockerClient, script: str, detach: bool = True):
    container = client.containers.run(
        "busybox", ["sh", "-c", script], detach=True, labels={"ketch-cp": "1"},
        name=f"cp-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    if not detach:
        container.wait(timeout=30)
    return container


SETUP = (
    "mkdir -p /data/sub && echo inner > /data/sub/f && echo top > /data/t && "
    "ln -s /etc /data/etc-link && ln -s ../../../../../etc /escape && "
    "echo ctr-host > /etc/hostname.cp"
)


@pytest.mark.parametrize("running", [True, False])
def test_copy_out_and_in(client: docker.DockerClient, docker_env: dict[str, str],
                         tmp_path: Path, running: bool) -> None:  # fmt: skip
    container = make(client, SETUP + ("; exec sleep 300" if running else ""), detach=running)
    if running:
        for _ in range(100):
            if container.exec_run(["test", "-e", "/etc/hostname.cp"]).exit_code == 0:
                break
    out = docker_cli(docker_env, "cp", f"{container.name}:/data", str(tmp_path / "got"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "got" / "sub" / "f").read_text() == "inner\n"
    assert (tmp_path / "got" / "etc-link").is_symlink()
    assert str((tmp_path / "got" / "etc-link").readlink()) == "/etc"
    # A link that climbs out of the root still leads to the container's own /etc.
    escaped = docker_cli(docker_env, "cp", f"{container.name}:/escape/hostname.cp", "-")
    assert escaped.returncode == 0, escaped.stderr
    with tarfile.open(fileobj=io.BytesIO(escaped.stdout.encode())) as tar:
        assert tar.extractfile("hostname.cp").read() == b"ctr-host\n"  # type: ignore[union-attr]
    (tmp_path / "put").mkdir()
    (tmp_path / "put" / "new.txt").write_text("from host\n")
    put = docker_cli(docker_env, "cp", str(tmp_path / "put" / "new.txt"),
                     f"{container.name}:/data/sub/")  # fmt: skip
    assert put.returncode == 0, put.stderr
    bits, found = container.get_archive("/data/sub/new.txt")
    assert found["name"] == "new.txt" and found["size"] == len("from host\n")
    with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
        member = tar.getmember("new.txt")
        assert (member.uid, member.gid) == (0, 0)  # as dockerd: owned by the container's root
        assert tar.extractfile(member).read() == b"from host\n"  # type: ignore[union-attr]


def test_missing_path_is_404(client: docker.DockerClient) -> None:
    container = make(client, "sleep 300")
    with pytest.raises(docker.errors.NotFound) as caught:
        container.get_archive("/no/such/file")
    assert "Could not find the file /no/such/file in container" in caught.value.explanation


def test_archives_cannot_write_outside_the_root(client: docker.DockerClient,
                                                tmp_path: Path) -> None:  # fmt: skip
    container = make(client, "ln -s / /rootlink; ln -s ../../../../.. /up; exec sleep 300")
    for _ in range(100):
        if container.exec_run(["test", "-L", "/up"]).exit_code == 0:
            break
    marker = f"ketch-escape-{uuid.uuid4().hex[:8]}"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo(f"rootlink/tmp/{marker}")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    # Through a symlink inside the archive's path: refused.
    with pytest.raises(docker.errors.APIError) as caught:
        container.put_archive("/", data.getvalue())
    assert caught.value.response.status_code == 400
    dotdot = io.BytesIO()
    with tarfile.open(fileobj=dotdot, mode="w") as tar:
        info = tarfile.TarInfo(f"../../{marker}")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(docker.errors.APIError):
        container.put_archive("/tmp", dotdot.getvalue())
    # A destination reached through a link that climbs: it stays inside the root.
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo(marker)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    assert container.put_archive("/up/tmp", plain.getvalue()) is True
    assert not Path(f"/tmp/{marker}").exists()
    assert not Path(f"/{marker}").exists()
    assert container.exec_run(["cat", f"/tmp/{marker}"]).output == b"x"


def test_export_and_diff(client: docker.DockerClient) -> None:
    container = make(client, "echo new > /added; echo x >> /etc/passwd; rm /etc/group",
                     detach=False)  # fmt: skip
    changes = {c["Path"]: c["Kind"] for c in container.diff()}
    assert changes["/added"] == 1
    assert changes["/etc/passwd"] == 0 and changes["/etc"] == 0
    assert changes["/etc/group"] == 2
    exported = b"".join(container.export())
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        names = set(tar.getnames())
        assert tar.extractfile("added").read() == b"new\n"  # type: ignore[union-attr]
    assert "bin/busybox" in names and "etc/passwd" in names and "etc/group" not in names
