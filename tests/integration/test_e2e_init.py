"""`docker run --init` against ketchd: an init reaps and forwards signals, as on Docker."""

from __future__ import annotations

from ketch.testing.commands import docker


def test_init_is_pid_1_and_the_command_its_child(docker_env: dict[str, str]) -> None:
    result = docker(docker_env, "run", "--rm", "--init", "busybox", "ps", "-o", "pid,ppid,args")
    assert result.returncode == 0, result.stderr.decode()
    rows = [line.split(None, 2) for line in result.stdout.decode().splitlines()[1:]]
    assert rows[0] == ["1", "0", "/sbin/docker-init -- ps -o pid,ppid,args"]
    assert rows[1][1] == "1" and rows[1][2] == "ps -o pid,ppid,args"


def test_init_passes_the_exit_code_and_works_without_sbin(docker_env: dict[str, str]) -> None:
    assert (
        docker(docker_env, "run", "--rm", "--init", "busybox", "sh", "-c", "exit 3").returncode == 3
    )
    hello = docker(docker_env, "run", "--rm", "--init", "hello-world")  # an image with no /sbin
    assert hello.returncode == 0, hello.stderr.decode()
    assert b"Hello from Ketch!" in hello.stdout


def test_init_forwards_stop_to_a_command_without_handlers(docker_env: dict[str, str]) -> None:
    # sleep as PID 1 ignores SIGTERM (stop waits, then kills: 137); under an init
    # the TERM reaches it and it dies of it: 143, at once.
    run = docker(docker_env, "run", "-d", "--init", "busybox", "sleep", "300")
    cid = run.stdout.decode().strip()
    try:
        assert docker(docker_env, "stop", "-t", "20", cid).returncode == 0
        code = docker(docker_env, "inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip()
        assert code == b"143"
    finally:
        docker(docker_env, "rm", "-f", cid)
