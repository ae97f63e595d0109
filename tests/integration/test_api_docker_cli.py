"""What the real docker CLI prints against ketchd for errors and the listing commands."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.integration


def docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60)


def test_errors_are_printed_as_messages_not_json(docker_env: dict[str, str]) -> None:
    result = docker(docker_env, "inspect", "--type", "container", "no-such-thing")
    assert result.returncode == 1
    assert "No such container: no-such-thing" in result.stderr
    assert '{"message"' not in result.stderr
    unknown = docker(docker_env, "plugin", "ls")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().endswith("page not found")


def test_failed_start_is_reported_once(docker_env: dict[str, str]) -> None:
    docker(docker_env, "pull", "-q", "busybox")
    result = docker(docker_env, "run", "--rm", "busybox", "no-such-command")
    assert result.returncode == 127
    assert result.stderr.count("executable file not found") == 1
    assert "Error waiting for container" not in result.stderr


def test_network_volume_listing_and_system_prune(docker_env: dict[str, str]) -> None:
    networks = docker(docker_env, "network", "ls", "--format", "{{.Name}} {{.Driver}}")
    assert networks.returncode == 0, networks.stderr
    assert sorted(networks.stdout.split("\n")[:3]) == ["bridge bridge", "host host", "none null"]
    volumes = docker(docker_env, "volume", "ls", "-q")
    assert (volumes.returncode, volumes.stdout) == (0, "")
    created = docker(docker_env, "volume", "create")
    assert created.returncode == 0, created.stderr
    prune = docker(docker_env, "system", "prune", "-f", "--volumes")
    assert prune.returncode == 0, prune.stderr
    assert created.stdout.strip() in prune.stdout  # anonymous and unused: pruned
    assert "Total reclaimed space" in prune.stdout
    assert docker(docker_env, "volume", "ls", "-q").stdout == ""


def test_docker_update_keeps_what_it_was_not_asked_to_change(docker_env: dict[str, str]) -> None:
    import uuid

    name = f"upd-{uuid.uuid4().hex[:8]}"
    docker(docker_env, "pull", "-q", "busybox")
    run = docker(docker_env, "run", "-d", "--name", name, "--restart", "on-failure:3",
                 "busybox", "sleep", "300")  # fmt: skip
    assert run.returncode == 0, run.stderr
    try:
        update = docker(docker_env, "update", "--memory", "48m", "--memory-swap", "48m", name)
        assert update.returncode == 0, update.stderr
        template = "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}"
        shown = docker(docker_env, "inspect", "-f", template, name)
        assert shown.stdout.split() == [str(48 * 1024 * 1024), "on-failure"]
    finally:
        docker(docker_env, "rm", "-f", name)


def test_log_driver_none(docker_env: dict[str, str]) -> None:
    import uuid

    name = f"nolog-{uuid.uuid4().hex[:8]}"
    docker(docker_env, "pull", "-q", "busybox")
    run = docker(docker_env, "run", "--name", name, "--log-driver", "none", "busybox", "echo", "hi")
    try:
        assert (run.returncode, run.stdout) == (0, "hi\n")  # attached output still flows
        logs = docker(docker_env, "logs", name)
        assert logs.returncode == 1
        assert "configured logging driver does not support reading" in logs.stderr
    finally:
        docker(docker_env, "rm", "-f", name)
