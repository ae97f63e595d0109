"""Volumes through a real ketchd: the /volumes API (SDK and docker CLI), named and
anonymous volumes in containers, seeding from the image, the local driver's options,
--volumes-from, --mount, cp/diff/commit around volumes, and data surviving ketchd's
SIGKILL and restart."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.testing.commands import unique
from ketch.testing.daemon import Daemon
from ketch.testing.sdk import sdk_client

pytestmark = pytest.mark.integration

LABEL = {"ketch-volumes-test": "1"}
SEEDED_DOCKERFILE = b"""FROM busybox
RUN mkdir -p /seed/sub && echo hello > /seed/sub/file && chown 1234:5678 /seed/sub/file \\
 && chmod 640 /seed/sub/file && chown 42:43 /seed && chmod 750 /seed
VOLUME /seed
"""


@pytest.fixture
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    with sdk_client(ketchd, "ketch-volumes-test", volumes=True) as client:
        yield client


def run(client: docker.DockerClient, command: str, **kwargs):  # type: ignore[no-untyped-def]
    """A busybox container that runs `command` to its end; its output."""
    container = client.containers.run("busybox", ["sh", "-c", command], detach=True,
                                      labels=LABEL, **kwargs)  # fmt: skip
    result = container.wait(timeout=30)
    output = container.logs().decode()
    assert result["StatusCode"] == 0, output
    return container, output


def docker_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60)


def volume_names(client: docker.DockerClient) -> set[str]:
    return {v.name for v in client.volumes.list()}


def test_create_list_inspect_remove(client: docker.DockerClient, ketchd: Daemon) -> None:
    name = unique("vol")
    created = client.api.create_volume(name, labels={**LABEL, "tier": "db"})
    assert created["Name"] == name and created["Driver"] == "local"
    assert created["Scope"] == "local" and created["Options"] is None
    assert created["Mountpoint"] == str(ketchd.data_root / "volumes" / name / "_data")
    assert created["CreatedAt"].endswith(("Z", ":00")) and "T" in created["CreatedAt"]
    assert client.api.create_volume(name) == created  # the same name: the same volume
    assert client.api.inspect_volume(name) == created
    assert name in {v["Name"] for v in client.api.volumes(filters={"label": "tier=db"})["Volumes"]}
    assert name not in {v["Name"] for v in
                        client.api.volumes(filters={"label": "tier=web"})["Volumes"]}  # fmt: skip
    assert name in {v["Name"] for v in client.api.volumes(filters={"name": name[4:]})["Volumes"]}
    assert name in {v["Name"] for v in client.api.volumes(filters={"dangling": True})["Volumes"]}
    with pytest.raises(docker.errors.APIError, match="invalid filter 'bogus'"):
        client.api.volumes(filters={"bogus": "x"})
    anonymous = client.api.create_volume(labels=LABEL)
    assert len(anonymous["Name"]) == 64
    assert anonymous["Labels"] == {**LABEL, "com.docker.volume.anonymous": ""}
    client.api.remove_volume(name)
    client.api.remove_volume(anonymous["Name"])
    with pytest.raises(docker.errors.NotFound, match=f"get {name}: no such volume"):
        client.api.inspect_volume(name)
    with pytest.raises(docker.errors.NotFound, match="no such volume"):
        client.api.remove_volume(name)
    # Forced, a missing volume is no error (docker-py drops its own force parameter).
    forced = client.api._delete(client.api._url("/volumes/{0}", name), params={"force": "1"})
    assert forced.status_code == 204
    with pytest.raises(docker.errors.APIError, match="includes invalid characters"):
        client.api.create_volume("bad/name")


def test_docker_cli_volume_commands(client: docker.DockerClient,
                                    docker_env: dict[str, str]) -> None:  # fmt: skip
    name = unique("cli")
    created = docker_cli(docker_env, "volume", "create", "--label", "ketch-volumes-test=1", name)
    assert created.returncode == 0 and created.stdout.strip() == name, created.stderr
    listed = docker_cli(docker_env, "volume", "ls", "-q", "--filter", f"name={name}")
    assert listed.stdout.split() == [name]
    shown = json.loads(docker_cli(docker_env, "volume", "inspect", name).stdout)
    assert shown[0]["Name"] == name and shown[0]["Labels"] == LABEL
    removed = docker_cli(docker_env, "volume", "rm", name)
    assert removed.returncode == 0 and removed.stdout.strip() == name, removed.stderr
    gone = docker_cli(docker_env, "volume", "inspect", name)
    assert gone.returncode == 1 and "no such volume" in gone.stderr


def test_named_volume_outlives_its_container_and_is_in_use_while_one_exists(
    client: docker.DockerClient,
) -> None:
    name = unique("data")
    first, _ = run(client, "echo kept > /data/f", volumes={name: {"bind": "/data", "mode": "rw"}})
    first.remove()
    second, output = run(client, "cat /data/f", volumes=[f"{name}:/data:ro"])
    assert output == "kept\n"
    mounts = client.api.inspect_container(second.id)["Mounts"]
    assert mounts == [{
        "Type": "volume", "Name": name, "Source": client.volumes.get(name).attrs["Mountpoint"],
        "Destination": "/data", "Driver": "local", "Mode": "ro", "RW": False, "Propagation": "",
    }]  # fmt: skip
    with pytest.raises(docker.errors.APIError) as in_use:
        client.api.remove_volume(name)
    assert in_use.value.status_code == 409
    assert str(in_use.value.explanation) == f"remove {name}: volume is in use - [{second.id}]"
    in_use_ls = {v["Name"] for v in client.api.volumes(filters={"dangling": False})["Volumes"]}
    assert name in in_use_ls
    second.remove(v=True)  # named: -v leaves it
    assert name in volume_names(client)
    client.api.remove_volume(name)


def test_rm_v_and_autoremove_take_anonymous_volumes_not_named_ones(
    client: docker.DockerClient,
) -> None:
    named = unique("named")
    container, _ = run(client, "true", volumes=[f"{named}:/named", "/anon"])
    anonymous = next(m["Name"] for m in client.api.inspect_container(container.id)["Mounts"]
                     if m["Destination"] == "/anon")  # fmt: skip
    assert len(anonymous) == 64
    container.remove()  # without -v: both stay
    assert {named, anonymous} <= volume_names(client)
    client.api.remove_volume(anonymous)
    container, _ = run(client, "true", volumes=[f"{named}:/named", "/anon"])
    anonymous = next(m["Name"] for m in client.api.inspect_container(container.id)["Mounts"]
                     if m["Destination"] == "/anon")  # fmt: skip
    container.remove(v=True)
    assert anonymous not in volume_names(client) and named in volume_names(client)
    auto = client.containers.create("busybox", ["true"], labels=LABEL, volumes=["/auto"],
                                    auto_remove=True)  # fmt: skip
    auto_volume = client.api.inspect_container(auto.id)["Mounts"][0]["Name"]
    auto.start()
    for _ in range(100):
        if auto_volume not in volume_names(client):
            break
        time.sleep(0.1)
    assert auto_volume not in volume_names(client)
    client.api.remove_volume(named)


def test_a_new_volume_is_seeded_from_the_image_with_owners_and_modes(
    client: docker.DockerClient, docker_env: dict[str, str],
) -> None:
    tag = f"ketch-seeded:{uuid.uuid4().hex[:8]}"
    client.images.build(fileobj=io.BytesIO(SEEDED_DOCKERFILE), tag=tag, rm=True)
    try:
        named = unique("seeded")
        script = "stat -c '%u:%g %a' /seed /seed/sub/file; cat /seed/sub/file"
        expected = "42:43 750\n1234:5678 640\nhello\n"
        for volume in (f"{named}:/seed", None):  # named, and the image's VOLUME
            container = client.containers.run(
                tag, ["sh", "-c", script], detach=True, labels=LABEL,
                volumes=[volume] if volume else None,
            )  # fmt: skip
            container.wait(timeout=30)
            assert container.logs().decode() == expected
            mounts = client.api.inspect_container(container.id)["Mounts"]
            assert len(mounts) == 1 and mounts[0]["Type"] == "volume"
            container.remove(v=True)
        # nocopy: the new volume stays empty.
        empty = unique("nocopy")
        container = client.containers.run(tag, ["ls", "-A", "/seed"], detach=True, labels=LABEL,
                                          volumes=[f"{empty}:/seed:nocopy"])  # fmt: skip
        container.wait(timeout=30)
        assert container.logs() == b""
        container.remove()
        # A volume with data is not seeded again.
        container = client.containers.run(tag, ["touch", "/seed/mine"], detach=True,
                                          labels=LABEL, volumes=[f"{empty}:/seed:nocopy"])
        container.wait(timeout=30)
        container.remove()
        container = client.containers.run(tag, ["ls", "/seed"], detach=True, labels=LABEL,
                                          volumes=[f"{empty}:/seed"])  # fmt: skip
        container.wait(timeout=30)
        assert container.logs() == b"mine\n"
        container.remove()
        for volume in (named, empty):
            client.api.remove_volume(volume)
    finally:
        client.images.remove(tag, force=True)


def test_mounts_with_options(client: docker.DockerClient) -> None:
    name = unique("sub")
    filler, _ = run(client, "mkdir -p /v/inner && echo deep > /v/inner/f", volumes=[f"{name}:/v"])
    filler.remove()
    mount = docker.types.Mount("/sub", name, type="volume", read_only=True)
    mount["VolumeOptions"] = {"Subpath": "inner"}
    tmpfs = docker.types.Mount("/scratch", None, type="tmpfs", tmpfs_size=2 * 1024 * 1024,
                               tmpfs_mode=0o1770)  # fmt: skip
    script = (
        "cat /sub/f; stat -c %a /scratch; df -k /scratch | tail -1; "
        "touch /sub/x 2>/dev/null || echo ro"
    )
    container, output = run(client, script, mounts=[mount, tmpfs])
    lines = output.splitlines()
    assert lines[0] == "deep" and lines[1] == "1770"
    assert lines[2].split()[1] == "2048"
    assert lines[-1] == "ro"
    shown = {m["Destination"]: m for m in client.api.inspect_container(container.id)["Mounts"]}
    assert shown["/sub"]["RW"] is False and shown["/sub"]["Name"] == name
    assert shown["/scratch"]["Type"] == "tmpfs"
    container.remove()
    missing = docker.types.Mount("/sub", name, type="volume")
    missing["VolumeOptions"] = {"Subpath": "nowhere"}
    bad = client.containers.create("busybox", ["true"], mounts=[missing], labels=LABEL)
    with pytest.raises(docker.errors.APIError, match="nowhere"):
        bad.start()
    bad.remove()
    client.api.remove_volume(name)


def test_local_driver_tmpfs_and_bind_options(client: docker.DockerClient, tmp_path: Path) -> None:
    tmpfs = unique("tmpfs")
    client.api.create_volume(tmpfs, driver_opts={"type": "tmpfs", "device": "tmpfs",
                                                 "o": "size=3m,uid=1000,mode=0700"}, labels=LABEL)
    _, output = run(client, "stat -c '%u %a' /t; df -k /t | tail -1", volumes=[f"{tmpfs}:/t"])
    owner_mode, usage = output.splitlines()
    assert owner_mode == "1000 700" and usage.split()[1] == "3072"
    assert client.api.inspect_volume(tmpfs)["Options"]["type"] == "tmpfs"
    host = tmp_path / "host-dir"
    host.mkdir()
    (host / "from-host").write_text("hi\n")
    bound = unique("bound")
    client.api.create_volume(bound, driver_opts={"type": "none", "device": str(host),
                                                 "o": "bind"}, labels=LABEL)  # fmt: skip
    _, output = run(client, "cat /b/from-host; echo back > /b/from-ctr", volumes=[f"{bound}:/b"])
    assert output == "hi\n" and (host / "from-ctr").read_text() == "back\n"
    with pytest.raises(docker.errors.APIError, match='invalid option: "bogus"'):
        client.api.create_volume(unique("bad"), driver_opts={"bogus": "1"})
    with pytest.raises(docker.errors.APIError, match='missing required option: "device"'):
        client.api.create_volume(unique("bad"), driver_opts={"type": "tmpfs"})
    for container in client.containers.list(all=True, filters={"label": "ketch-volumes-test"}):
        container.remove(force=True)
    client.api.remove_volume(tmpfs)
    client.api.remove_volume(bound)
    assert (host / "from-host").exists()  # removing a bind volume leaves the host's files


def test_volumes_from(client: docker.DockerClient, docker_env: dict[str, str]) -> None:
    source, _ = run(client, "echo shared > /anon/f; echo n > /named/g",
                    volumes=["/anon", f"{unique('vf')}:/named"])  # fmt: skip
    _, output = run(client, "cat /anon/f /named/g", volumes_from=[source.id])
    assert output == "shared\nn\n"
    reader, output = run(client, "touch /anon/x 2>/dev/null || echo ro",
                         volumes_from=[f"{source.name}:ro"])  # fmt: skip
    assert output == "ro\n"
    assert all(not m["RW"] for m in client.api.inspect_container(reader.id)["Mounts"])
    cli = docker_cli(docker_env, "run", "--rm", "--volumes-from", source.name, "busybox",
                     "cat", "/anon/f")  # fmt: skip
    assert cli.returncode == 0 and cli.stdout == "shared\n", cli.stderr


def test_docker_cli_mount_and_v_flags(client: docker.DockerClient,
                                      docker_env: dict[str, str]) -> None:  # fmt: skip
    name = unique("clivol")
    out = docker_cli(docker_env, "run", "--rm", "--label", "ketch-volumes-test=1",
                     "--mount", f"type=volume,source={name},target=/m",
                     "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
                     "busybox", "sh", "-c", "echo x > /m/f; df -k /t | tail -1")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "1024"
    out = docker_cli(docker_env, "run", "--rm", "-v", f"{name}:/m:ro", "busybox", "cat", "/m/f")
    assert out.returncode == 0 and out.stdout == "x\n", out.stderr
    rm = docker_cli(docker_env, "volume", "rm", name)
    assert rm.returncode == 0, rm.stderr


def test_cp_diff_commit_and_export_around_volumes(client: docker.DockerClient,
                                                  docker_env: dict[str, str],
                                                  tmp_path: Path) -> None:  # fmt: skip
    name = unique("cp")
    container, _ = run(client, "echo in-vol > /vol/a; echo in-root > /root-file",
                       volumes=[f"{name}:/vol", "/anon"])  # fmt: skip
    # cp out of and into a stopped container's volume path: the volume's data.
    got = docker_cli(docker_env, "cp", f"{container.id}:/vol/a", "-")
    assert got.returncode == 0, got.stderr
    with tarfile.open(fileobj=io.BytesIO(got.stdout.encode())) as tar:
        assert tar.extractfile("a").read() == b"in-vol\n"  # type: ignore[union-attr]
    (tmp_path / "put.txt").write_text("put\n")
    put = docker_cli(docker_env, "cp", str(tmp_path / "put.txt"), f"{container.id}:/vol/")
    assert put.returncode == 0, put.stderr
    data = Path(client.api.inspect_volume(name)["Mountpoint"])
    assert (data / "put.txt").read_text() == "put\n"
    changes = {c["Path"]: c["Kind"] for c in client.api.diff(container.id)}
    assert changes.get("/root-file") == 1
    assert not [p for p in changes if p.startswith(("/vol/", "/anon/"))]
    assert not {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc"} & set(changes)
    image = container.commit(repository="ketch-vol-commit", tag=uuid.uuid4().hex[:8])
    try:
        saved = io.BytesIO(b"".join(client.images.get(image.id).save()))
        with tarfile.open(fileobj=saved) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
            top = archive.extractfile(manifest[0]["Layers"][-1])
            with tarfile.open(fileobj=io.BytesIO(top.read())) as layer:  # type: ignore[union-attr]
                committed = {n.rstrip("/") for n in layer.getnames()}
        assert "root-file" in committed
        assert not committed & {"etc", "etc/hosts", "etc/hostname", "etc/resolv.conf"}
        assert not [n for n in committed if n.startswith(("vol/", "anon/"))]
    finally:
        client.images.remove(image.id, force=True)
    readonly = client.containers.create("busybox", ["true"], labels=LABEL,
                                        volumes=[f"{name}:/ro:ro"])  # fmt: skip
    refused = docker_cli(docker_env, "cp", str(tmp_path / "put.txt"), f"{readonly.id}:/ro/")
    assert refused.returncode == 1 and "mounted volume is marked read-only" in refused.stderr
    readonly.remove()
    exported = b"".join(container.export())
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        names = tar.getnames()
    assert "root-file" in names and not [n for n in names if n.startswith("vol/")]
    container.remove(v=True)
    client.api.remove_volume(name)


def test_prune_and_df(client: docker.DockerClient) -> None:
    named = client.api.create_volume(unique("prune-named"), labels={**LABEL, "keep": "no"})
    anonymous = client.api.create_volume(labels=LABEL)
    used = unique("prune-used")
    container, _ = run(client, "head -c 5000 /dev/zero > /u/f", volumes=[f"{used}:/u"])
    df = client.df()
    row = next(v for v in df["Volumes"] if v["Name"] == used)
    assert row["UsageData"] == {"Size": 5000, "RefCount": 1}
    pruned = client.api.prune_volumes(filters={"label": "ketch-volumes-test"})
    assert pruned["VolumesDeleted"] == [anonymous["Name"]]  # 1.42+: anonymous ones only
    with pytest.raises(docker.errors.APIError, match="invalid filter 'dangling'"):
        client.api.prune_volumes(filters={"dangling": "true"})
    pruned = client.api.prune_volumes(filters={"label": "ketch-volumes-test", "all": "true",
                                               "label!": "keep=yes"})  # fmt: skip
    assert pruned["VolumesDeleted"] == [named["Name"]]
    assert used in volume_names(client)  # in use: never pruned
    container.remove()
    old_prune = client.api.base_url + "/v1.41/volumes/prune"
    response = client.api._post(old_prune,
                                params={"filters": json.dumps({"label": [f"nothing={used}"]})})
    assert response.status_code == 200 and response.json()["VolumesDeleted"] is None
    response = client.api._post(old_prune)
    assert used in (response.json()["VolumesDeleted"] or [])  # before 1.42: every unused one


def test_volume_data_survives_ketchd_sigkill_and_restart(client: docker.DockerClient,
                                                         ketchd: Daemon) -> None:  # fmt: skip
    name = unique("durable")
    container = client.containers.run("busybox", ["sh", "-c", "echo before > /d/f; sleep 300"],
                                      detach=True, labels=LABEL, volumes=[f"{name}:/d"])
    for _ in range(100):
        if container.exec_run(["test", "-e", "/d/f"]).exit_code == 0:
            break
    ketchd.kill()
    ketchd.restart()
    again = docker.DockerClient(base_url=ketchd.url, version="1.45", timeout=60)
    try:
        assert again.api.inspect_volume(name)["Name"] == name
        with pytest.raises(docker.errors.APIError, match="volume is in use"):
            again.api.remove_volume(name)
        again.containers.get(container.id).remove(force=True)
        _, output = run(again, "cat /d/f", volumes=[f"{name}:/d"])
        assert output == "before\n"
        for leftover in again.containers.list(all=True, filters={"label": "ketch-volumes-test"}):
            leftover.remove(force=True)
        again.api.remove_volume(name)
        assert not (ketchd.data_root / "volumes" / name).exists()
    finally:
        again.close()
    assert os.path.isdir(ketchd.data_root / "volumes")
