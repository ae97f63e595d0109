"""`run --init`: the init binary in front of the command, as dockerd arranges it."""

from __future__ import annotations

import pytest

from ketch.containers.bundle import INIT_IN_CONTAINER, build_spec
from ketch.errors import NotImplementedYet


def spec_for(host_config: dict, init_path: str | None) -> dict:
    return build_spec(
        path="redis-server", args=["--port", "6379"], config={"Tty": False},
        host_config=host_config, uid=0, gid=0, additional_gids=[], container_dir="/c",
        nofile_hard=1024, init_path=init_path,
    )  # fmt: skip


def test_init_runs_the_command_as_its_child() -> None:
    spec = spec_for({"Init": True}, "/usr/bin/tini-static")
    assert spec["process"]["args"] == [
        INIT_IN_CONTAINER, "--", "redis-server", "--port", "6379",
    ]  # fmt: skip
    init_mounts = [m for m in spec["mounts"] if m["destination"] == INIT_IN_CONTAINER]
    assert init_mounts == [
        {"destination": INIT_IN_CONTAINER, "type": "bind", "source": "/usr/bin/tini-static",
         "options": ["bind", "ro"]}
    ]  # fmt: skip


def test_without_init_the_command_is_pid_1() -> None:
    spec = spec_for({}, "/usr/bin/tini-static")
    assert spec["process"]["args"] == ["redis-server", "--port", "6379"]
    assert all(m["destination"] != INIT_IN_CONTAINER for m in spec["mounts"])


def test_init_without_an_init_binary_says_so() -> None:
    with pytest.raises(NotImplementedYet, match="no init binary"):
        spec_for({"Init": True}, None)
