"""Security settings a Docker user gives, seen from inside real containers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import RegistryServer

pytestmark = pytest.mark.integration

DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
}


@pytest.fixture
def client(ketchd: Daemon) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=ketchd.url, version="1.45", timeout=60)
    client.images.pull("busybox", tag="latest")
    try:
        yield client
    finally:
        client.close()


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
        client.close()
    finally:
        daemon.stop()
