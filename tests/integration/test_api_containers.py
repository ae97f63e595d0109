"""Container and image routes through the Docker SDK and raw HTTP, against a real ketchd."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.testing.commands import unique
from ketch.testing.daemon import Daemon
from ketch.testing.images import registry_domain
from ketch.testing.registry import RegistryServer
from ketch.testing.sdk import sdk_client

pytestmark = pytest.mark.integration


@pytest.fixture
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    with sdk_client(ketchd, "ketch-test") as client:
        yield client


def run_detached(client: docker.DockerClient, command: list[str], **kwargs):
    return client.containers.run(
        "busybox", command, detach=True, labels={"ketch-test": "1"}, **kwargs
    )


def test_create_with_unknown_image_is_404_in_dockers_words(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ImageNotFound) as caught:
        client.api.create_container("never-pulled-image")
    assert caught.value.response.status_code == 404
    assert caught.value.explanation == "No such image: never-pulled-image:latest"


def test_name_conflict_uses_dockers_words(client: docker.DockerClient) -> None:
    name = unique("dup")
    first = client.containers.create("busybox", ["true"], name=name, labels={"ketch-test": "1"})
    with pytest.raises(docker.errors.APIError) as caught:
        client.containers.create("busybox", ["true"], name=name)
    assert caught.value.response.status_code == 409
    assert caught.value.explanation == (
        f'Conflict. The container name "/{name}" is already in use by container "{first.id}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


def test_lifecycle_states_and_shapes(client: docker.DockerClient) -> None:
    name = unique("life")
    container = run_detached(client, ["sh", "-c", "echo out; echo err >&2; exec sleep 300"],
                             name=name, environment={"GREETING": "hi"})  # fmt: skip
    api = client.api
    inspect = api.inspect_container(name)
    assert inspect["Name"] == f"/{name}"
    assert inspect["State"]["Status"] == "running" and inspect["State"]["Pid"] > 0
    assert inspect["Path"] == "sh" and inspect["Args"][0] == "-c"
    assert "GREETING=hi" in inspect["Config"]["Env"]
    assert inspect["Config"]["Hostname"] == container.id[:12]
    assert inspect["LogPath"].endswith(f"{container.id}-json.log")
    rows = api.containers(filters={"name": name})
    assert [r["Id"] for r in rows] == [container.id]
    assert rows[0]["Names"] == [f"/{name}"] and rows[0]["State"] == "running"
    assert rows[0]["Status"].startswith("Up ")
    # start on a running container is 304, as in Docker
    response = api._post(api._url("/containers/{0}/start", container.id))
    assert response.status_code == 304
    with pytest.raises(docker.errors.APIError) as caught:
        container.remove()
    assert caught.value.response.status_code == 409
    assert "container is running: stop the container before removing or force remove" in str(
        caught.value.explanation
    )
    # stdout and stderr come through two pipes: wait for both lines to be logged.
    assert wait_until(
        lambda: (
            container.logs(stdout=True, stderr=False) == b"out\n"
            and container.logs(stdout=False, stderr=True) == b"err\n"
        ),
        timeout=10,
    )
    assert container.logs(stdout=True, stderr=False) == b"out\n"
    assert container.logs(stdout=False, stderr=True) == b"err\n"
    stamped = container.logs(timestamps=True, tail=1).decode()
    assert stamped.endswith(" out\n") or stamped.endswith(" err\n")
    assert stamped[:4].isdigit() and "T" in stamped.split(" ")[0]
    started = time.monotonic()
    container.stop(timeout=1)
    assert time.monotonic() - started < 8
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 137
    rows = api.containers(all=True, filters={"name": name})
    assert rows[0]["Status"].startswith("Exited (137) ")
    response = api._post(api._url("/containers/{0}/stop", container.id))
    assert response.status_code == 304
    container.remove()
    with pytest.raises(docker.errors.NotFound) as gone:
        client.containers.get(name)
    assert gone.value.explanation == f"No such container: {name}"


def test_exec_run_output_and_exit_code(client: docker.DockerClient) -> None:
    container = run_detached(client, ["sleep", "300"], working_dir="/tmp")
    result = container.exec_run(["sh", "-c", "pwd; echo $FOO >&2; exit 3"], environment=["FOO=bar"])
    assert result.exit_code == 3
    assert result.output == b"/tmp\nbar\n"
    split = container.exec_run(["sh", "-c", "echo a; echo b >&2"], demux=True)
    assert split.output == (b"a\n", b"b\n")
    container.remove(force=True)


def test_wait_headers_come_before_the_container_exits(
    ketchd: Daemon, client: docker.DockerClient
) -> None:
    container = client.containers.create("busybox", ["sh", "-c", "sleep 0.3; exit 4"],
                                         labels={"ketch-test": "1"})  # fmt: skip
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(ketchd.socket_path))
        sock.sendall(
            f"POST /v1.45/containers/{container.id}/wait?condition=next-exit HTTP/1.1\r\n"
            "Host: docker\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 200 OK")
        container.start()
        body = b""
        while not body.endswith(b"0\r\n\r\n"):  # the chunked body's end
            chunk = sock.recv(4096)
            assert chunk, "connection closed before the wait body"
            body += chunk
    text = body.decode()
    payload = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert payload == {"StatusCode": 4}  # no "Error" key: dockerd omits it when empty


def test_attach_before_start_sees_all_output(client: docker.DockerClient) -> None:
    container = client.containers.create("busybox", ["sh", "-c", "echo first; echo second"],
                                         labels={"ketch-test": "1"})  # fmt: skip
    stream = container.attach(stdout=True, stderr=True, stream=True, logs=False)
    container.start()
    output = b"".join(stream)
    assert output == b"first\nsecond\n"
    assert container.wait(timeout=30)["StatusCode"] == 0


def test_logs_follow_ends_when_the_container_exits(client: docker.DockerClient) -> None:
    container = run_detached(client, ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done"])
    lines = b"".join(container.logs(stream=True, follow=True))
    assert lines == b"1\n2\n3\n"
    container.remove(force=True)


def test_auto_remove_container_is_gone_after_exit(client: docker.DockerClient) -> None:
    name = unique("rm")
    container = run_detached(client, ["sleep", "0.5"], name=name, auto_remove=True)
    result = client.api.wait(container.id, condition="removed", timeout=30)
    assert result["StatusCode"] == 0
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_kill_with_a_signal(client: docker.DockerClient) -> None:
    container = run_detached(
        client, ["sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.05; done"]
    )
    time.sleep(0.2)  # let the shell install its trap
    container.kill(signal="SIGUSR1")
    assert container.wait(timeout=30)["StatusCode"] == 42
    container.remove()


def test_images_routes(client: docker.DockerClient) -> None:
    image = client.images.get("busybox")
    assert "busybox:latest" in image.tags
    repo = unique("retagged")
    assert image.tag(repo, "v1") is True
    assert f"{repo}:v1" in client.images.get(f"{repo}:v1").tags
    assert any(f"{repo}:v1" in i.tags for i in client.images.list())
    assert client.images.get(f"{repo}:v1").history()
    client.images.remove(f"{repo}:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{repo}:v1")


def test_save_then_load_round_trip(client: docker.DockerClient) -> None:
    repo = unique("saved")
    client.images.get("busybox").tag(repo, "v1")
    archive = b"".join(client.images.get(f"{repo}:v1").save(named=f"{repo}:v1"))
    assert archive[257:262] == b"ustar"
    client.images.remove(f"{repo}:v1")
    loaded = client.images.load(archive)
    assert [f"{repo}:v1"] == [t for image in loaded for t in image.tags if t.startswith(repo)]
    client.images.remove(f"{repo}:v1")


def test_push_to_a_registry_streams_progress(
    client: docker.DockerClient, hub_mirror: RegistryServer
) -> None:
    target = f"{registry_domain(hub_mirror.url)}/pushed/{unique('bb')}"
    client.images.get("busybox").tag(target, "v2")
    lines = list(client.images.push(target, tag="v2", stream=True, decode=True))
    assert not [line for line in lines if "error" in line], lines
    assert any(line.get("status", "").startswith("v2: digest: sha256:") for line in lines)
    client.images.remove(f"{target}:v2")


def test_import_a_rootfs_tar(client: docker.DockerClient) -> None:
    import io
    import tarfile

    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    repo = unique("imported")
    result = client.api.import_image_from_data(data.getvalue(), repository=repo, tag="t")
    assert "sha256:" in str(result)
    image = client.images.get(f"{repo}:t")
    assert image.attrs["RootFS"]["Layers"] and len(image.attrs["RootFS"]["Layers"]) == 1
    client.images.remove(f"{repo}:t")


def test_bind_mounts_and_tmpfs(client: docker.DockerClient, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host").write_text("host\n")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    output = client.containers.run(
        "busybox",
        ["sh", "-c", "cat /data/from-host; echo ctr > /data/from-ctr; "
         "touch /ro/x 2>/dev/null || echo ro-refused; "
         "grep ' /scratch ' /proc/mounts | cut -d' ' -f3"],
        volumes={str(shared): {"bind": "/data", "mode": "rw"},
                 str(readonly): {"bind": "/ro", "mode": "ro"}},
        tmpfs={"/scratch": "size=1m"},
        remove=True,
    )  # fmt: skip
    assert output == b"host\nro-refused\ntmpfs\n"
    assert (shared / "from-ctr").read_text() == "ctr\n"
    assert list(readonly.iterdir()) == []


def wait_until(predicate, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_restart_policy_on_failure_counts_retries(client: docker.DockerClient) -> None:
    policy = {"Name": "on-failure", "MaximumRetryCount": 2}
    container = run_detached(client, ["sh", "-c", "echo run; exit 3"], restart_policy=policy)

    def settled() -> bool:
        container.reload()
        return container.attrs["RestartCount"] == 2 and container.status == "exited"

    assert wait_until(settled)
    assert container.attrs["State"]["ExitCode"] == 3
    assert container.logs() == b"run\nrun\nrun\n"


def test_restart_always_until_stopped(client: docker.DockerClient) -> None:
    container = run_detached(client, ["sh", "-c", "sleep 0.2"], restart_policy={"Name": "always"})

    def restarted() -> bool:
        container.reload()
        return container.attrs["RestartCount"] >= 1 and container.status == "running"

    assert wait_until(restarted)
    container.stop(timeout=1)
    time.sleep(0.5)
    container.reload()
    assert container.status == "exited"
    assert not container.attrs["State"]["Restarting"]


def test_restart_policy_with_auto_remove_is_refused(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.APIError) as caught:
        client.containers.create("busybox", ["true"], auto_remove=True,
                                 restart_policy={"Name": "always"})  # fmt: skip
    assert caught.value.response.status_code == 400
    assert "cannot specify both --restart and --rm" in caught.value.explanation


def test_host_network_sees_the_hosts_interfaces(client: docker.DockerClient) -> None:
    import os

    own = sorted(os.listdir("/sys/class/net"))
    bridged = client.containers.run("busybox", ["ls", "/sys/class/net"], remove=True)
    assert bridged.split() == [b"eth0", b"lo"]  # the default bridge's veth
    isolated = client.containers.run("busybox", ["ls", "/sys/class/net"], network_mode="none",
                                     remove=True)  # fmt: skip
    assert isolated.split() == [b"lo"]
    shared = client.containers.run("busybox", ["ls", "/sys/class/net"], network_mode="host",
                                   remove=True)  # fmt: skip
    assert sorted(shared.decode().split()) == own


def test_detaching_leaves_stdin_open_and_the_container_running(
    client: docker.DockerClient,
) -> None:
    container = run_detached(client, ["sh"], stdin_open=True, tty=True)
    params = {"stdin": 1, "stdout": 1, "stream": 1}
    first = container.attach_socket(params=params)
    first._sock.sendall(b"echo one-$((1+1))\n")
    seen = b""
    first._sock.settimeout(10)
    while b"one-2" not in seen:
        seen += first._sock.recv(4096)
    first.close()  # as the CLI does on its detach keys
    time.sleep(0.3)
    container.reload()
    assert container.status == "running"
    second = container.attach_socket(params=params)
    second._sock.sendall(b"echo two-$((2+2)); exit 6\n")
    seen = b""
    second._sock.settimeout(10)
    while chunk := second._sock.recv(4096):
        seen += chunk
    second.close()
    assert b"two-4" in seen
    assert container.wait(timeout=30)["StatusCode"] == 6


def test_pause_unpause_rename_top_prune(client: docker.DockerClient) -> None:
    container = run_detached(
        client, ["sh", "-c", "while :; do date +%s%N > /tmp/tick; sleep 0.05; done"]
    )
    top = container.top()
    assert top["Titles"][:3] == ["UID", "PID", "PPID"]
    commands = [row[-1] for row in top["Processes"]]
    assert any(cmd.startswith("sh -c while") for cmd in commands), commands
    container.reload()
    tick = Path(f"/proc/{container.attrs['State']['Pid']}/root/tmp/tick")
    assert wait_until(tick.exists)
    container.pause()
    container.reload()
    assert container.status == "paused" and container.attrs["State"]["Paused"] is True
    frozen_at = tick.read_text()
    time.sleep(0.3)
    assert tick.read_text() == frozen_at  # nothing runs while frozen
    container.unpause()
    container.reload()
    assert container.status == "running"
    assert wait_until(lambda: tick.read_text() != frozen_at)
    new_name = unique("renamed")
    container.rename(new_name)
    assert client.containers.get(new_name).id == container.id
    container.stop(timeout=0)
    stopped_elsewhere = run_detached(client, ["true"])
    stopped_elsewhere.wait(timeout=30)
    result = client.containers.prune(filters={"label": "ketch-test"})
    assert container.id in result["ContainersDeleted"]
    assert stopped_elsewhere.id in result["ContainersDeleted"]
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(new_name)


def test_events_report_a_containers_life(client: docker.DockerClient) -> None:
    since = time.time() - 1
    name = unique("evented")
    client.containers.run("busybox", ["sh", "-c", "exit 2"], name=name, detach=True,
                          labels={"ketch-test": "1"}).wait(timeout=30)  # fmt: skip
    client.containers.get(name).remove()
    events = list(client.events(since=since, until=time.time() + 0.5, decode=True,
                                filters={"container": name}))  # fmt: skip
    assert [e["Action"] for e in events] == ["create", "start", "die", "destroy"]
    die = events[2]
    assert die["Type"] == "container" and die["Actor"]["Attributes"]["exitCode"] == "2"
    assert die["Actor"]["Attributes"]["name"] == name and die["from"] == "busybox"


def test_commit_keeps_changes_and_deletions(client: docker.DockerClient) -> None:
    container = run_detached(
        client, ["sh", "-c", "echo kept > /kept.txt; rm -rf /etc/group; mkdir -p /d/e; "
                 "ln -s /kept.txt /d/link; exec sleep 300"]
    )  # fmt: skip
    assert wait_until(lambda: container.exec_run(["test", "-L", "/d/link"]).exit_code == 0)
    repo = unique("committed")
    image = container.commit(repository=repo, tag="c1", message="by test",
                             conf={"Cmd": ["cat", "/kept.txt"]})  # fmt: skip
    assert f"{repo}:c1" in image.tags
    assert image.history()[0]["Comment"] == "by test"
    out = client.containers.run(f"{repo}:c1", remove=True)
    assert out == b"kept\n"
    check = client.containers.run(
        f"{repo}:c1", ["sh", "-c", "test -e /etc/group && echo present || echo gone; "
                       "readlink /d/link; test -d /d/e && echo dir"], remove=True,
    )  # fmt: skip
    assert check == b"gone\n/kept.txt\ndir\n"
    container.remove(force=True)
    client.images.remove(f"{repo}:c1")


def test_stats_come_from_the_containers_cgroup(
    client: docker.DockerClient, docker_env: dict[str, str]
) -> None:
    import subprocess

    container = run_detached(client, ["sh", "-c", "while :; do :; done"], mem_limit="64m",
                             pids_limit=50, name=unique("stats"))  # fmt: skip
    stats = container.stats(stream=False)
    assert stats["memory_stats"]["limit"] == 64 * 1024 * 1024
    assert 0 < stats["memory_stats"]["usage"] < 64 * 1024 * 1024
    assert stats["pids_stats"] == {"current": 1, "limit": 50}
    busy = stats["cpu_stats"]["cpu_usage"]["total_usage"]
    assert busy > stats["precpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert stats["cpu_stats"]["system_cpu_usage"] > stats["precpu_stats"]["system_cpu_usage"]
    shown = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}",
         container.name], env=docker_env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    name, usage, _, limit, pids = shown.stdout.split()
    assert (name, limit, pids) == (container.name, "64MiB", "1")
    container.remove(force=True)


def test_sizes_and_system_df(client: docker.DockerClient, docker_env: dict[str, str]) -> None:
    import subprocess

    container = run_detached(client, ["sh", "-c", "head -c 100000 /dev/zero > /blob; sleep 300"])
    assert wait_until(lambda: container.exec_run(["test", "-s", "/blob"]).exit_code == 0)
    rows = client.api.containers(filters={"id": container.id}, size=True)
    assert 100000 <= rows[0]["SizeRw"] < 200000
    assert rows[0]["SizeRootFs"] > rows[0]["SizeRw"]
    api = client.api
    inspect = api._result(api._get(api._url("/containers/{0}/json", container.id),
                                   params={"size": 1}), True)  # fmt: skip
    assert inspect["SizeRw"] == rows[0]["SizeRw"]
    df = client.df()
    assert any(c["Id"] == container.id and c["SizeRw"] >= 100000 for c in df["Containers"])
    assert df["LayersSize"] > 0 and any("busybox:latest" in i["RepoTags"] for i in df["Images"])
    shown = subprocess.run(["docker", "system", "df", "--format", "{{.Type}}"], env=docker_env,
                           capture_output=True, text=True, timeout=30)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split()[:2] == ["Images", "Containers"]
    container.remove(force=True)


def test_logs_read_across_rotated_files(client: docker.DockerClient) -> None:
    container = run_detached(
        client, ["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"],
        log_config={"Type": "json-file", "Config": {"max-size": "2k", "max-file": "3"}},
    )  # fmt: skip
    assert container.wait(timeout=30)["StatusCode"] == 0
    log_path = Path(client.api.inspect_container(container.id)["LogPath"])
    assert Path(f"{log_path}.1").exists() and Path(f"{log_path}.2").exists()
    assert not Path(f"{log_path}.3").exists()
    lines = container.logs().decode().split()
    assert lines == [f"line-{i}" for i in range(300 - len(lines), 300)]  # newest kept, in order
    assert 30 < len(lines) < 300
    assert container.logs(tail=2) == b"line-298\nline-299\n"


def test_oom_kill_is_reported(client: docker.DockerClient) -> None:
    # dd's one 64 MiB buffer does not fit in 8 MiB
    container = run_detached(client, ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
                             mem_limit="8m", memswap_limit="8m")  # fmt: skip
    assert container.wait(timeout=60)["StatusCode"] == 137
    container.reload()
    assert container.attrs["State"]["OOMKilled"] is True


def test_hello_world_pulled_through_the_hub_mirror(ketchd: Daemon) -> None:
    client = docker.DockerClient(base_url=ketchd.url, version="1.45", timeout=60)
    try:
        with pytest.raises(docker.errors.ImageNotFound):
            client.containers.create("hello-world")  # not pulled yet: Docker's 404
        output = client.containers.run("hello-world", remove=True)  # the SDK pulls, as the CLI does
        assert b"Hello from Ketch!" in output
        assert "hello-world:latest" in client.images.get("hello-world").tags
    finally:
        client.close()


def test_docker_cli_detach_keys_leave_the_container_running(
    client: docker.DockerClient, docker_env: dict[str, str]
) -> None:
    from ketch.testing.terminal import PseudoTerminal

    name = unique("detach")
    term = PseudoTerminal(["docker", "run", "-it", "--name", name, "--label", "ketch-test=1",
                           "busybox", "sh"], env=docker_env)  # fmt: skip
    try:
        term.read_until(b"# ")
        term.type(b"echo still-$((2+3))\r")
        term.read_until(b"still-5")
        started = time.monotonic()
        term.type(b"\x10\x11")  # ctrl-p ctrl-q
        run = term.wait(timeout=20)
    finally:
        term.close()
    assert run.exit_code == 0
    assert time.monotonic() - started < 5
    container = client.containers.get(name)
    assert container.status == "running"
    # and it still answers on a new attach
    sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
    sock._sock.settimeout(10)
    sock._sock.sendall(b"echo again-$((3+4))\n")
    seen = b""
    while b"again-7" not in seen:
        chunk = sock._sock.recv(4096)
        assert chunk, seen
        seen += chunk
    sock.close()


def test_list_filters(client: docker.DockerClient) -> None:
    first = client.containers.run("busybox", ["true"], detach=True, name=unique("first"),
                                  labels={"ketch-test": "1", "role": "a"})  # fmt: skip
    first.wait(timeout=30)
    second = run_detached(client, ["sleep", "300"], name=unique("second"))
    ids = lambda **f: {c["Id"] for c in client.api.containers(all=True, filters=f)}  # noqa: E731
    assert ids(label="role=a") == {first.id}
    assert ids(status="exited", label="ketch-test") >= {first.id}
    assert second.id not in ids(status="exited")
    assert ids(exited=0, label="role") == {first.id}
    assert ids(since=first.id, label="ketch-test") == {second.id}
    assert first.id in ids(before=second.id)
    with pytest.raises(docker.errors.APIError) as caught:
        client.api.containers(filters={"colour": "blue"})
    assert caught.value.response.status_code == 400
    assert caught.value.explanation == "invalid filter 'colour'"
    with pytest.raises(docker.errors.APIError):
        client.api.containers(filters={"status": "sleepy"})


MS = 1_000_000


def test_healthcheck_goes_unhealthy_then_healthy(client: docker.DockerClient) -> None:
    check = {"Test": ["CMD-SHELL", "test -e /tmp/ok && echo fine"], "Interval": 100 * MS,
             "Timeout": 2000 * MS, "Retries": 2}  # fmt: skip
    container = run_detached(client, ["sh", "-c", "sleep 0.8; touch /tmp/ok; sleep 300"],
                             healthcheck=check)  # fmt: skip

    def health() -> dict:
        container.reload()
        return container.attrs["State"]["Health"]

    assert wait_until(lambda: health()["Status"] == "unhealthy")
    assert health()["FailingStreak"] >= 2
    assert wait_until(lambda: health()["Status"] == "healthy")
    last = health()["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"] == "fine\n"
    assert len(health()["Log"]) <= 5
    row = client.api.containers(filters={"id": container.id})[0]
    assert row["Status"].endswith("(healthy)")
    container.remove(force=True)


def test_healthcheck_timeout_counts_as_failure(client: docker.DockerClient) -> None:
    check = {"Test": ["CMD", "sleep", "5"], "Interval": 100 * MS, "Timeout": 200 * MS,
             "Retries": 1}  # fmt: skip
    container = run_detached(client, ["sleep", "300"], healthcheck=check)

    def health() -> dict:
        container.reload()
        return container.attrs["State"]["Health"]

    assert wait_until(lambda: health()["Status"] == "unhealthy")
    entry = health()["Log"][0]
    assert entry["ExitCode"] == -1 and "exceeded timeout" in entry["Output"]
    container.remove(force=True)


def test_update_limits_and_restart_policy(client: docker.DockerClient) -> None:
    container = run_detached(client, ["sleep", "300"], mem_limit="64m")
    container.update(mem_limit="32m", memswap_limit="32m",
                     restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})  # fmt: skip
    api = client.api  # the SDK has no pids_limit for update: send it as the CLI does
    api._result(api._post_json(api._url("/containers/{0}/update", container.id),
                               data={"PidsLimit": 20}), True)  # fmt: skip
    container.reload()
    host = container.attrs["HostConfig"]
    assert host["Memory"] == 32 * 1024 * 1024 and host["PidsLimit"] == 20
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    stats = container.stats(stream=False, one_shot=True)
    assert stats["memory_stats"]["limit"] == 32 * 1024 * 1024
    assert stats["pids_stats"]["limit"] == 20
    with pytest.raises(docker.errors.APIError) as caught:
        container.update(mem_limit="1k")
    assert "Minimum memory limit allowed is 6MB" in caught.value.explanation
    container.remove(force=True)


def test_image_prune_takes_only_dangling_images_its_label_filters_match(
    client: docker.DockerClient,
) -> None:
    mark = unique("pruned")
    container = client.containers.create("busybox", "true", labels={"ketch.test.prune": mark})
    try:
        image = container.commit()  # no tag: dangling, labelled as its container
    finally:
        container.remove()
    try:
        assert image.labels.get("ketch.test.prune") == mark
        for filters in ({"label": "ketch.test.prune=other"}, {"label!": "ketch.test.prune"}):
            result = client.images.prune(filters=filters)
            assert image.id not in str(result.get("ImagesDeleted")), filters
            client.images.get(image.id)
        result = client.images.prune(filters={"label": f"ketch.test.prune={mark}"})
        assert {"Deleted": image.id} in result["ImagesDeleted"]
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(image.id)
    finally:
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.ImageNotFound:
            pass


def test_real_time_cpu_time_reaches_the_cgroup_or_is_refused(client: docker.DockerClient) -> None:
    # docker-py spells the fields "CPURealtimeRuntime": Go's decoder ignores the case.
    # Only cgroup v1 on a kernel with real-time group scheduling has the files.
    supported = Path("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()
    script = "cat /sys/fs/cgroup/cpu/cpu.rt_runtime_us /sys/fs/cgroup/cpu/cpu.rt_period_us"
    host_config = client.api.create_host_config(cpu_rt_runtime=40000, cpu_rt_period=150000)
    options = {"host_config": host_config, "labels": {"ketch-test": "1"}}
    if not supported:
        with pytest.raises(docker.errors.APIError) as caught:
            client.api.create_container("busybox", ["sh", "-c", script], **options)
        assert caught.value.response.status_code == 400
        assert caught.value.explanation == (
            "Your kernel does not support cgroup cpu real-time period"
        )
        return
    created = client.api.create_container("busybox", ["sh", "-c", script], **options)
    container = client.containers.get(created["Id"])
    shown = container.attrs["HostConfig"]
    assert (shown["CpuRealtimeRuntime"], shown["CpuRealtimePeriod"]) == (40000, 150000)
    container.start()
    assert container.wait(timeout=30)["StatusCode"] == 0
    assert container.logs().decode().split() == ["40000", "150000"]


def test_an_exec_that_cannot_start_says_why_in_a_stdout_frame(client: docker.DockerClient) -> None:
    # dockerd writes the error where the output would be, framed unless the exec has a TTY:
    # the docker CLI (which docker-compose's exec runs) refuses an unframed byte.
    container = run_detached(client, ["sleep", "300"])
    result = container.exec_run(["whoami"], user="nosuchuser", demux=True)
    stdout, stderr = result.output
    assert stderr is None
    assert b"unable to find user nosuchuser" in stdout
    container.remove(force=True)


def test_an_unknown_user_is_refused_at_start_not_create(client: docker.DockerClient) -> None:
    # dockerd looks the user up when the process starts: the container is made and stays.
    container = client.containers.create("busybox", ["id"], user="nosuchuser",
                                         labels={"ketch-test": "1"})  # fmt: skip
    assert container.attrs["Config"]["User"] == "nosuchuser"
    with pytest.raises(docker.errors.APIError) as caught:
        container.start()
    assert "unable to find user nosuchuser" in caught.value.explanation
    container.reload()
    assert container.status == "created"


def test_pid_and_ipc_modes_join_another_running_container(client: docker.DockerClient) -> None:
    donor = run_detached(client, ["sleep", "300"], ipc_mode="shareable")
    assert donor.attrs["HostConfig"]["IpcMode"] == "shareable"
    script = ["sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc"]
    joiner = client.containers.create("busybox", script, pid_mode=f"container:{donor.name}",
                                      ipc_mode=f"container:{donor.id}",
                                      labels={"ketch-test": "1"})  # fmt: skip
    joiner.start()
    assert joiner.wait(timeout=30)["StatusCode"] == 0, joiner.logs()
    assert joiner.logs() == donor.exec_run(script).output
    # dockerd's refusal of a donor whose IPC namespace is not shareable, at start
    private = run_detached(client, ["sleep", "300"])
    refused = client.containers.create("busybox", ["true"], ipc_mode=f"container:{private.id}",
                                       labels={"ketch-test": "1"})  # fmt: skip
    with pytest.raises(docker.errors.APIError) as caught:
        refused.start()
    assert "non-shareable IPC (hint: use IpcMode:shareable for the donor container)" in (
        caught.value.explanation
    )


def test_a_container_on_another_ones_network_has_no_networks_of_its_own(
    client: docker.DockerClient,
) -> None:
    donor = run_detached(client, ["sleep", "300"])
    joiner = client.containers.create("busybox", ["true"], network_mode=f"container:{donor.id}",
                                      labels={"ketch-test": "1"})  # fmt: skip
    assert joiner.attrs["HostConfig"]["NetworkMode"] == f"container:{donor.id}"
    assert joiner.attrs["NetworkSettings"]["Networks"] == {}
