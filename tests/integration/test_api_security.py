"""Security settings a Docker user gives, seen from inside real containers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import RegistryServer
from ketch.testing.sdk import sdk_client

pytestmark = pytest.mark.integration

DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
}


@pytest.fixture
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    with sdk_client(ketchd) as client:
        yield client


def run(client: docker.DockerClient, script: str, **kwargs) -> bytes:
    return client.containers.run("busybox", ["sh", "-c", script], remove=True,
                                 stderr=True, **kwargs)  # fmt: skip


def cap_eff(output: bytes) -> int:
    for line in output.decode().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError(output)


def test_seccomp_profile_from_security_opt(client: docker.DockerClient) -> None:
    script = "mkdir /tmp/d 2>&1 || true; echo done"
    denied = run(client, script, security_opt=[f"seccomp={json.dumps(DENY_MKDIR)}"])
    assert b"Operation not permitted" in denied and denied.endswith(b"done\n")
    assert run(client, script) == b"done\n"


def test_privileged_has_every_capability(client: docker.DockerClient) -> None:
    default = cap_eff(run(client, "cat /proc/self/status"))
    privileged = cap_eff(run(client, "cat /proc/self/status", privileged=True))
    assert privileged & ~default and not default & ~privileged
    assert privileged & (1 << 21)  # CAP_SYS_ADMIN
    assert not default & (1 << 21)


def test_ulimits_and_no_new_privileges(client: docker.DockerClient) -> None:
    out = run(client, "ulimit -n; grep NoNewPrivs /proc/self/status",
              ulimits=[docker.types.Ulimit(name="nofile", soft=321, hard=654)],
              security_opt=["no-new-privileges"])  # fmt: skip
    assert out.split() == [b"321", b"NoNewPrivs:", b"1"]


def test_daemon_default_seccomp_profile(tmp_path: Path, hub_mirror: RegistryServer) -> None:
    profile = tmp_path / "seccomp.json"
    profile.write_text(json.dumps(DENY_MKDIR))
    daemon = run_daemon(tmp_path, mirrors=[hub_mirror.url],
                        extra_args=["--seccomp-profile", str(profile)])  # fmt: skip
    try:
        client = docker.DockerClient(base_url=daemon.url, version="1.45", timeout=60)
        client.images.pull("busybox", tag="latest")
        script = "mkdir /tmp/d 2>&1 || true"
        assert b"Operation not permitted" in run(client, script)
        assert run(client, script, security_opt=["seccomp=unconfined"]) == b""
        assert client.info()["SecurityOptions"] == [f"name=seccomp,profile={profile}"]
        client.close()
    finally:
        daemon.stop()


# Whether the filter is on, then what Docker's default profile forbids a container without
# CAP_SYS_ADMIN: a user namespace (no capability needed, so only seccomp stops it) and mount.
CONFINEMENT = (
    "exec 2>&1; grep Seccomp: /proc/self/status;"
    " unshare -r id -u; echo unshare=$?;"
    " mount -t tmpfs x /tmp; echo mount=$?"
)


def test_default_profile_is_dockers(client: docker.DockerClient) -> None:
    out = run(client, CONFINEMENT).decode()
    assert out.startswith("Seccomp:\t2\n")
    assert "unshare: unshare(0x10000000): Operation not permitted\nunshare=1\n" in out
    assert "mount: permission denied (are you root?)\nmount=1\n" in out


def test_default_profile_off_with_seccomp_unconfined(client: docker.DockerClient) -> None:
    out = run(client, CONFINEMENT, security_opt=["seccomp=unconfined"]).decode()
    assert out.startswith("Seccomp:\t0\n")
    assert "\n0\nunshare=0\n" in out  # root in the new user namespace
    # The capabilities still stand: mount needs CAP_SYS_ADMIN.
    assert "mount=1\n" in out


def test_default_profile_follows_capabilities(client: docker.DockerClient) -> None:
    # The profile's mount and unshare rules are included with CAP_SYS_ADMIN, as in Docker.
    out = run(client, CONFINEMENT, cap_add=["SYS_ADMIN"]).decode()
    assert out.startswith("Seccomp:\t2\n")
    assert "unshare=0\n" in out and "mount=0\n" in out


def test_privileged_runs_unconfined_as_docker(client: docker.DockerClient) -> None:
    out = run(client, CONFINEMENT, privileged=True).decode()
    assert out.startswith("Seccomp:\t0\n")
    assert "unshare=0\n" in out and "mount=0\n" in out
    builtin = run(client, CONFINEMENT, privileged=True, security_opt=["seccomp=builtin"])
    assert builtin.startswith(b"Seccomp:\t0\n")  # dockerd: privileged wins over any profile


def test_hello_world_and_redis_under_the_default_profile(client: docker.DockerClient) -> None:
    client.images.pull("hello-world", tag="latest")
    client.images.pull("redis", tag="latest")
    assert b"Hello from Ketch!" in client.containers.run("hello-world", remove=True)
    redis = client.containers.run("redis", detach=True)
    try:
        redis.reload()
        status = Path(f"/proc/{redis.attrs['State']['Pid']}/status").read_text()
        assert "Seccomp:\t2\n" in status
        # redis answers once it listens; the exec runs under the container's filter too.
        for _ in range(100):
            code, out = redis.exec_run(["redis-cli", "ping"])
            if out == b"PONG\n":
                break
        assert (code, out) == (0, b"PONG\n")
        assert redis.exec_run(["redis-cli", "set", "k", "v"]).output == b"OK\n"
    finally:
        redis.remove(force=True)


def test_docker_cli_info_and_security_opt(
    client: docker.DockerClient, docker_env: dict[str, str], tmp_path: Path
) -> None:
    def docker_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], env=docker_env, capture_output=True)

    info = docker_cli("info", "--format", "{{json .SecurityOptions}}")
    assert json.loads(info.stdout) == ["name=seccomp,profile=builtin"]
    # The docker CLI reads a profile given by path and sends its content.
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps(DENY_MKDIR, indent=2))
    denied = docker_cli("run", "--rm", "--security-opt", f"seccomp={profile}",
                        "busybox", "mkdir", "/tmp/d")  # fmt: skip
    assert denied.returncode == 1 and b"Operation not permitted" in denied.stderr
    unconfined = docker_cli("run", "--rm", "--security-opt", "seccomp=unconfined",
                            "busybox", "grep", "Seccomp:", "/proc/self/status")  # fmt: skip
    assert unconfined.stdout == b"Seccomp:\t0\n"


def test_daemon_unconfined(tmp_path: Path, hub_mirror: RegistryServer) -> None:
    daemon = run_daemon(tmp_path, mirrors=[hub_mirror.url],
                        extra_args=["--seccomp-profile", "unconfined"])  # fmt: skip
    try:
        client = docker.DockerClient(base_url=daemon.url, version="1.45", timeout=60)
        client.images.pull("busybox", tag="latest")
        assert client.info()["SecurityOptions"] == ["name=seccomp,profile=unconfined"]
        assert run(client, CONFINEMENT).startswith(b"Seccomp:\t0\n")
        confined = run(client, CONFINEMENT, security_opt=["seccomp=builtin"]).decode()
        assert confined.startswith("Seccomp:\t2\n") and "unshare=1\n" in confined
        client.close()
    finally:
        daemon.stop()
