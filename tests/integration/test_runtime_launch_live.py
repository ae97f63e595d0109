"""Forking into a container's PID namespace leaves the caller's own children where they were."""

from __future__ import annotations

import os

import pytest

from ketch.runtime import launch

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces"),
    pytest.mark.timeout(30),
]


def namespace(name: str, pid: int | str = "self") -> int:
    return os.stat(f"/proc/{pid}/ns/{name}").st_ino


def fork_reporting_pid(path: str | None, new: bool) -> tuple[int, int]:
    """(pid as this process sees it, pid as the child sees itself)."""
    read_end, write_end = os.pipe()
    pid = launch._fork_into_pid_namespace(path, new)
    if pid == 0:
        os.write(write_end, str(os.getpid()).encode())
        os._exit(0)
    os.close(write_end)
    try:
        seen = int(os.read(read_end, 32))
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return pid, seen


def test_a_new_namespace_for_the_child_only() -> None:
    own = namespace("pid")
    pid, seen = fork_reporting_pid(None, True)
    assert seen == 1 and pid != 1
    assert namespace("pid_for_children") == own
    _, again = fork_reporting_pid(None, False)
    assert again != 1  # a plain fork after it is born in this process's namespace


def test_joining_a_namespace_by_path() -> None:
    read_end, write_end = os.pipe()
    holder = launch._fork_into_pid_namespace(None, True)
    if holder == 0:  # PID 1 of a namespace, kept alive until the pipe closes
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(0)
    os.close(read_end)
    try:
        pid, seen = fork_reporting_pid(f"/proc/{holder}/ns/pid", False)
        assert seen != pid and seen > 1  # a second process of that namespace
        assert namespace("pid_for_children") == namespace("pid")
    finally:
        os.close(write_end)
        os.waitpid(holder, 0)
