"""network/netns.py on the real kernel: a namespace held at a path, and let go of."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ketch.network import netns

pytestmark = [pytest.mark.integration, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def _links_in(path: Path) -> list[str]:
    out = subprocess.run(["nsenter", f"--net={path}", "ip", "-o", "link"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [line.split(":")[1].strip() + (" UP" if ",UP" in line else "")
            for line in out.splitlines()]  # fmt: skip


def test_a_created_namespace_is_new_has_loopback_up_and_is_held_at_its_path(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sandboxes" / "one"
    host = os.stat("/proc/self/ns/net").st_ino
    netns.create(path)
    try:
        assert netns.is_held(path)
        assert os.stat(path).st_ino != host
        assert _links_in(path) == ["lo UP"]
        # The calling thread, and so the daemon, stays in the host's namespace.
        assert os.stat(f"/proc/self/task/{os.getpid()}/ns/net").st_ino == host
    finally:
        netns.remove(path)
    assert not path.exists() and not netns.is_held(path)
    assert str(path) not in Path("/proc/self/mountinfo").read_text()


def test_two_namespaces_are_two_and_removing_one_is_idempotent(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    netns.create(first)
    try:
        netns.create(second)
        assert os.stat(first).st_ino != os.stat(second).st_ino
        netns.remove(second)
        netns.remove(second)  # gone already: nothing to do, no error
        assert netns.is_held(first) and not second.exists()
    finally:
        netns.remove(first)
        netns.remove(second)


def test_a_plain_file_at_the_path_is_not_taken_for_a_namespace(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("")
    assert not netns.is_held(path)
    netns.remove(path)  # not a mount point: the file alone goes
    assert not path.exists()
