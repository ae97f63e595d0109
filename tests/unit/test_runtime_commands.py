from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ketch.errors import Conflict, InvalidArgument, NotFound
from ketch.runtime.cli import parser
from ketch.runtime.commands import cgroup_place, parse_signal, process_from_args
from ketch.runtime.runstate import (
    START_FIFO,
    ContainerState,
    ensure_new,
    is_running,
    proc_start_time,
)


def test_cgroups_path_as_runc_reads_it() -> None:
    assert cgroup_place({"linux": {"cgroupsPath": "/k8s/pod1/ctr"}}, "x") == ("k8s/pod1", "ctr")
    assert cgroup_place({"linux": {}}, "abc") == ("ketch-runtime", "abc")


@pytest.mark.parametrize(
    ("text", "number"), [("9", 9), ("KILL", 9), ("sigterm", 15), ("SIGUSR1", 10)]
)
def test_signals_by_name_or_number(text: str, number: int) -> None:
    assert parse_signal(text) == number


def test_unknown_signal_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        parse_signal("SIGNOPE")


def test_exec_process_from_arguments_keeps_the_containers_settings() -> None:
    config = {
        "process": {
            "env": ["PATH=/bin"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "capabilities": {},
        }
    }
    process = process_from_args(config, ["ls", "-l"], ["A=1"], "/tmp", True, "1000:50")
    assert process["args"] == ["ls", "-l"]
    assert process["env"] == ["PATH=/bin", "A=1"]
    assert (process["cwd"], process["terminal"]) == ("/tmp", True)
    assert process["user"] == {"uid": 1000, "gid": 50}
    assert config["process"]["env"] == ["PATH=/bin"]  # the bundle's config is not changed


def test_state_round_trip_and_status(tmp_path: Path) -> None:
    ensure_new(tmp_path, "c1")
    with pytest.raises(Conflict, match="container with id exists: c1"):
        ensure_new(tmp_path, "c1")
    me = os.getpid()
    state = ContainerState(
        "c1", "/b", "/b/rootfs", me, proc_start_time(me), "2026-01-01T00:00:00Z", "p", "c1"
    )
    state.save(tmp_path)
    loaded = ContainerState.load(tmp_path, "c1")
    assert loaded == state
    (tmp_path / "c1" / START_FIFO).touch()
    assert loaded.status(tmp_path) == "created"
    (tmp_path / "c1" / START_FIFO).unlink()
    assert loaded.status(tmp_path) == "running"
    assert loaded.status(tmp_path, frozen=True) == "paused"
    loaded.pid_start_time = (loaded.pid_start_time or 0) + 1  # a reused pid
    assert loaded.status(tmp_path) == "stopped"
    assert loaded.oci_state(tmp_path)["pid"] == 0


def test_missing_and_bad_ids(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="container does not exist"):
        ContainerState.load(tmp_path, "nope")
    with pytest.raises(InvalidArgument):
        ContainerState.load(tmp_path, "../etc")


def test_a_zombie_is_not_running() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        start = proc_start_time(pid)
        deadline = time.monotonic() + 5
        while is_running(pid, start) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert start is not None  # a zombie keeps its /proc entry until reaped
        assert not is_running(pid, start)
    finally:
        os.waitpid(pid, 0)


def test_cli_parses_containerd_invocations() -> None:
    args = parser().parse_args(
        ["--root", "/r", "--log", "/l.json", "--log-format", "json", "create", "--bundle", "/b",
         "--pid-file", "/p", "--console-socket", "/c.sock", "id1"]
    )  # fmt: skip
    assert (args.root, args.log, args.log_format) == (Path("/r"), "/l.json", "json")
    assert (args.bundle, args.pid_file, args.console_socket, args.container_id) == (
        "/b",
        "/p",
        "/c.sock",
        "id1",
    )
    exec_args = parser().parse_args(
        ["exec", "--process", "/p.json", "--detach", "--pid-file", "/x", "id1"]
    )
    assert (exec_args.process, exec_args.detach, exec_args.command) == ("/p.json", True, [])
    kill_args = parser().parse_args(["kill", "--all", "id1", "9"])
    assert (kill_args.all, kill_args.signal) == (True, "9")


def test_features_name_what_is_implemented() -> None:
    from ketch.runtime.commands import features

    described = features()
    assert described["ociVersionMax"] == "1.2.0"
    assert "rbind" in described["mountOptions"] and "rprivate" in described["mountOptions"]
    assert described["linux"]["seccomp"]["enabled"] is True
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"} <= set(
        described["linux"]["seccomp"]["archs"]
    )
    assert "CAP_SYS_ADMIN" in described["linux"]["capabilities"]
