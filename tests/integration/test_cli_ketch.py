"""The `ketch` command against a real ketchd: what a user types, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from ketch.testing.commands import KETCH, ketch, unique
from ketch.testing.terminal import PseudoTerminal


def test_run_hello_world_pulls_then_runs_in_dockers_order(env: dict[str, str]) -> None:
    result = ketch(env, "run", "--rm", "hello-world")
    assert result.returncode == 0, result.stderr.decode()
    stderr = result.stderr.decode()
    lines = stderr.splitlines()
    assert lines[0] == "Unable to find image 'hello-world:latest' locally"
    assert lines[1] == "latest: Pulling from library/hello-world"
    assert any(line.endswith(": Pull complete") for line in lines)
    assert any(line.startswith("Digest: sha256:") for line in lines)
    assert lines[-1] == "Status: Downloaded newer image for hello-world:latest"
    assert b"Hello from Ketch!" in result.stdout
    again = ketch(env, "run", "--rm", "hello-world")
    assert again.returncode == 0
    assert again.stderr == b""
    assert b"Hello from Ketch!" in again.stdout


def test_exit_codes(env: dict[str, str]) -> None:
    assert ketch(env, "run", "--rm", "busybox", "sh", "-c", "exit 7").returncode == 7
    missing = ketch(env, "run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == 127, missing.stderr.decode()
    assert b"ketch: Error response from daemon: " in missing.stderr
    not_executable = ketch(env, "run", "--rm", "busybox", "/etc/passwd")
    assert not_executable.returncode == 126, not_executable.stderr.decode()
    no_image = ketch(env, "run", "--rm", "--pull", "never", "no-such-image-here")
    assert no_image.returncode == 125
    assert b"No such image" in no_image.stderr
    bad_flag = ketch(env, "run", "--no-such-flag", "busybox")
    assert bad_flag.returncode == 125
    assert bad_flag.stderr.startswith(b"unknown flag: --no-such-flag\n")


def test_run_i_with_piped_stdin(env: dict[str, str]) -> None:
    result = ketch(env, "run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input=b"piped\n")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"PIPED\n"


def test_run_it_through_a_terminal(env: dict[str, str]) -> None:
    term = PseudoTerminal([KETCH, "run", "--rm", "-it", "busybox", "sh"], env=env)
    try:
        term.read_until(b"# ")
        term.type(b"echo hi$((6*7)); stty size; exit 3\r")
        run = term.wait()
    finally:
        term.close()
    assert b"hi42" in run.output
    assert run.exit_code == 3


def test_detached_lifecycle(env: dict[str, str]) -> None:
    name = unique("cli")
    script = "echo started; trap 'echo stopping; exit 0' TERM; while true; do sleep 1; done"
    run = ketch(env, "run", "-d", "--name", name, "busybox", "sh", "-c", script)
    assert run.returncode == 0, run.stderr.decode()
    cid = run.stdout.decode().strip()
    assert len(cid) == 64
    try:
        ps = ketch(env, "ps")
        header, *rows = ps.stdout.decode().splitlines()
        assert header.split("   ")[0] == "CONTAINER ID"
        assert header.startswith("CONTAINER ID   IMAGE     COMMAND ")
        row = next(line for line in rows if line.startswith(cid[:12]))
        assert row.endswith(name)
        assert "busybox" in row and '"sh -c echo started;…"' in row and "Up " in row
        formatted = ketch(env, "ps", "--format", "{{.ID}} {{.Names}}").stdout.decode()
        assert f"{cid[:12]} {name}" in formatted.splitlines()
        assert cid in ketch(env, "ps", "-q", "--no-trunc").stdout.decode().split()

        deadline = time.monotonic() + 10
        while b"started" not in ketch(env, "logs", name).stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ketch(env, "logs", name).stdout == b"started\n"
        follower = subprocess.Popen(
            [KETCH, "logs", "-f", name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            executed = ketch(env, "exec", name, "sh", "-c", "echo in-$(hostname); exit 4")
            assert executed.stdout.decode().strip() == f"in-{cid[:12]}"
            assert executed.returncode == 4
            exit_code = ketch(env, "inspect", "-f", "{{.State.Running}} {{.Id}}", name)
            assert exit_code.stdout.decode().strip() == f"true {cid}"
            stopped = ketch(env, "stop", "-t", "5", name)
            assert stopped.returncode == 0 and stopped.stdout.decode().strip() == name
            out, _ = follower.communicate(timeout=20)
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
        assert out == b"started\nstopping\n"
        assert ketch(env, "wait", name).stdout.strip() == b"0"
        assert ketch(env, "inspect", "-f", "{{.State.ExitCode}}", name).stdout == b"0\n"
        config = json.loads(ketch(env, "inspect", "-f", "{{json .Config}}", name).stdout)
        assert config["Cmd"] == ["sh", "-c", script]
    finally:
        removed = ketch(env, "rm", "-f", name)
    assert removed.returncode == 0 and removed.stdout.decode().strip() == name
    gone = ketch(env, "inspect", name)
    assert gone.returncode == 1
    assert gone.stdout == b"[]\n"
    assert gone.stderr.decode().strip() == f"Error: No such object: {name}"
    missing = ketch(env, "rm", name)
    assert missing.returncode == 1
    assert missing.stderr.decode().strip() == (
        f"Error response from daemon: No such container: {name}"
    )


def test_images_tag_inspect_rmi(env: dict[str, str]) -> None:
    pulled = ketch(env, "pull", "busybox")
    assert pulled.returncode == 0, pulled.stderr.decode()
    lines = pulled.stdout.decode().splitlines()
    assert lines[0] == "Using default tag: latest"
    assert lines[1] == "latest: Pulling from library/busybox"
    assert lines[-1] == "docker.io/library/busybox:latest"
    target = unique("mybox")
    assert ketch(env, "tag", "busybox", f"{target}:v1").returncode == 0
    listing = ketch(env, "images").stdout.decode().splitlines()
    assert listing[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = next(line for line in listing if line.startswith(target))
    image_id = ketch(env, "inspect", "--type", "image", "-f", "{{.Id}}", "busybox").stdout
    assert image_id.decode().strip().startswith("sha256:")
    assert row.split()[1:3] == ["v1", image_id.decode().strip()[7:19]]
    assert image_id.decode().strip()[7:19] in ketch(env, "images", "-q").stdout.decode()
    removed = ketch(env, "rmi", f"{target}:v1")
    assert removed.returncode == 0, removed.stderr.decode()
    assert removed.stdout.decode() == f"Untagged: {target}:v1\n"
    again = ketch(env, "rmi", f"{target}:v1")
    assert again.returncode == 1
    assert b"Error response from daemon: No such image" in again.stderr


def test_version_and_info(env: dict[str, str]) -> None:
    version = ketch(env, "version")
    assert version.returncode == 0, version.stderr.decode()
    text = version.stdout.decode()
    assert text.startswith("Client:\n Version:           ")
    assert "\nServer: ketch\n Engine:\n  Version:          " in text
    assert ketch(env, "version", "--format", "{{.Client.ApiVersion}}").stdout == b"1.45\n"
    info = ketch(env, "info")
    assert info.returncode == 0, info.stderr.decode()
    assert "\nServer:\n Containers: " in info.stdout.decode()


def test_cannot_connect_message(tmp_path: Path) -> None:
    environ = dict(os.environ)
    socket_url = f"unix://{tmp_path}/none.sock"
    environ["KETCH_HOST"] = socket_url
    result = ketch(environ, "ps")
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"Cannot connect to the ketch daemon at {socket_url}. Is the ketch daemon running?\n"
    )
