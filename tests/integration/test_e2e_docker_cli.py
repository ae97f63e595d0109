"""The real docker CLI (28) against ketchd: what a Docker user types, for real."""

from __future__ import annotations

import json

from ketch.testing.commands import DOCKER, docker, unique
from ketch.testing.terminal import PseudoTerminal


def test_run_rm_hello_world_pulls_then_prints(docker_env: dict[str, str]) -> None:
    result = docker(docker_env, "run", "--rm", "hello-world")
    assert result.returncode == 0, result.stderr.decode()
    assert b"Unable to find image 'hello-world:latest' locally" in result.stderr
    assert b"Hello from Ketch!" in result.stdout
    assert b"Status: Downloaded newer image for hello-world:latest" in result.stderr
    again = docker(docker_env, "run", "--rm", "hello-world")
    assert again.returncode == 0
    assert b"Unable to find image" not in again.stderr
    ps = docker(docker_env, "ps", "-a", "--format", "{{.Image}}")
    assert b"hello-world" not in ps.stdout  # --rm removed both


def test_exit_codes_are_the_containers(docker_env: dict[str, str]) -> None:
    assert docker(docker_env, "run", "--rm", "busybox", "sh", "-c", "exit 7").returncode == 7
    missing = docker(docker_env, "run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == 127, missing.stderr.decode()
    assert b"executable file not found" in missing.stderr
    assert docker(docker_env, "run", "--rm", "no-such-image-here").returncode == 125


def test_run_i_with_piped_stdin(docker_env: dict[str, str]) -> None:
    result = docker(docker_env, "run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z",
                    input=b"piped through\n")  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"PIPED THROUGH\n"


def test_run_it_through_a_terminal(docker_env: dict[str, str]) -> None:
    term = PseudoTerminal([DOCKER, "run", "--rm", "-it", "busybox", "sh"], env=docker_env)
    try:
        term.read_until(b"# ")
        term.type(b"echo $((6*7)); hostname; exit 3\r")
        run = term.wait()
    finally:
        term.close()
    assert b"42" in run.output
    assert run.exit_code == 3


def test_detached_ps_logs_exec_stop_rm(docker_env: dict[str, str]) -> None:
    name = unique("e2e")
    script = "echo started; trap 'exit 0' TERM; while true; do sleep 1; done"
    run = docker(docker_env, "run", "-d", "--name", name, "busybox", "sh", "-c", script)
    assert run.returncode == 0, run.stderr.decode()
    cid = run.stdout.decode().strip()
    assert len(cid) == 64
    try:
        ps = docker(docker_env, "ps", "--format", "{{.ID}} {{.Names}} {{.Status}}")
        assert f"{cid[:12]} {name} Up" in ps.stdout.decode()
        logs = docker(docker_env, "logs", name)
        assert logs.stdout == b"started\n"
        exec_ = docker(docker_env, "exec", name, "sh", "-c", "echo in-$(hostname)")
        assert exec_.stdout.decode().strip() == f"in-{cid[:12]}"
        inspect = json.loads(docker(docker_env, "inspect", name).stdout)
        assert inspect[0]["Id"] == cid and inspect[0]["State"]["Running"] is True
        assert docker(docker_env, "stop", name).returncode == 0
        state = docker(docker_env, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
        assert state.stdout.decode().strip() == "exited 0"
    finally:
        docker(docker_env, "rm", "-f", name)
    assert name not in docker(docker_env, "ps", "-a").stdout.decode()


def test_logs_follow_streams_until_exit(docker_env: dict[str, str]) -> None:
    name = unique("follow")
    docker(docker_env, "run", "-d", "--name", name, "busybox",
           "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done")  # fmt: skip
    try:
        logs = docker(docker_env, "logs", "-f", name, timeout=30)
        assert logs.stdout == b"line1\nline2\nline3\n"
    finally:
        docker(docker_env, "rm", "-f", name)


def test_exec_it_through_a_terminal(docker_env: dict[str, str]) -> None:
    name = unique("execit")
    docker(docker_env, "run", "-d", "--name", name, "busybox", "sleep", "300")
    term = PseudoTerminal([DOCKER, "exec", "-it", name, "sh"], env=docker_env)
    try:
        term.read_until(b"# ")
        term.type(b"tty; exit 5\r")
        run = term.wait()
        assert b"/dev/pts/" in run.output
        assert run.exit_code == 5
    finally:
        term.close()
        docker(docker_env, "rm", "-f", name)


def test_exec_i_keeps_the_output_of_a_command_done_before_stdin_ends(
    docker_env: dict[str, str],
) -> None:
    """`docker exec -i` with nothing on stdin (compose's `exec -T`): the CLI half-closes at
    once, often after the command is over; its output must still all arrive."""
    name = unique("execi")
    docker(docker_env, "run", "-d", "--name", name, "busybox", "sleep", "300")
    try:
        outputs = [
            docker(docker_env, "exec", "-i", name, "ls", "-1d", "/", input=b"").stdout
            for _ in range(20)
        ]
    finally:
        docker(docker_env, "rm", "-f", name)
    assert outputs == [b"/\n"] * 20


def test_images_pull_inspect_rmi(docker_env: dict[str, str]) -> None:
    pull = docker(docker_env, "pull", "redis")
    assert pull.returncode == 0, pull.stderr.decode()
    assert b"docker.io/library/redis:latest" in pull.stdout
    listing = docker(docker_env, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert "redis:latest" in listing.stdout.decode().split()
    config = json.loads(docker(docker_env, "image", "inspect", "redis").stdout)[0]["Config"]
    assert "6379/tcp" in config["ExposedPorts"]
    rmi = docker(docker_env, "rmi", "redis")
    assert rmi.returncode == 0, rmi.stderr.decode()
    assert b"Untagged: redis:latest" in rmi.stdout
    missing = docker(docker_env, "image", "inspect", "redis")
    assert missing.returncode == 1
    assert b"No such image: redis" in missing.stderr


def test_a_tty_container_gets_term_xterm(docker_env: dict[str, str]) -> None:
    """As on Docker: TERM=xterm with -t, none without, and -e TERM wins."""

    def term_of(*args: str) -> list[str]:
        run = docker(docker_env, "run", "--rm", *args, "busybox", "env")
        assert run.returncode == 0, run.stderr.decode()
        return [line for line in run.stdout.decode().splitlines() if line.startswith("TERM=")]

    assert term_of("-t") == ["TERM=xterm"]
    assert term_of() == []
    assert term_of("-t", "-e", "TERM=vt100") == ["TERM=vt100"]
