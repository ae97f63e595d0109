"""`ketch-runtime spec` and `run` on a busybox bundle, as runc would be driven."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.runtime import cgroups
from ketch.testing.rootfs import busybox_rootfs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and cgroups"),
    pytest.mark.timeout(60),
]


def runtime(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ketch.runtime.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    parent = f"ketch-test-rt-{uuid.uuid4().hex[:8]}"
    yield parent
    layout = cgroups.detect_layout()
    mounts = layout.v1_mounts.values() if layout.version == 1 else [layout.v2_mount]
    for mount_point in mounts:
        directory = Path(str(mount_point)) / parent
        if directory.exists():
            directory.rmdir()


def test_spec_then_run(tmp_path: Path, cgroup_parent: str) -> None:
    busybox_rootfs(tmp_path / "rootfs")
    assert runtime("spec", cwd=tmp_path).returncode == 0
    assert runtime("spec", cwd=tmp_path).returncode == 1  # runc refuses to overwrite too
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["terminal"] is True
    config["process"]["terminal"] = False
    config["process"]["args"] = [
        "sh",
        "-c",
        "echo $$ $(hostname) $(cat /proc/self/cgroup | grep pids)",
    ]
    config["hostname"] = "rt"
    config["linux"]["cgroupsPath"] = f"/{cgroup_parent}/c1"
    config["linux"]["resources"] = {"pids": {"limit": 10}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    pid_file = tmp_path / "pid"
    result = runtime("run", "--pid-file", str(pid_file), "c1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["1", "rt"]
    assert result.stdout.strip().endswith(":pids:/")
    assert int(pid_file.read_text()) > 1
    layout = cgroups.detect_layout()
    if layout.version == 1:
        assert not (Path(layout.v1_mounts["pids"]) / cgroup_parent / "c1").exists()


def test_run_reports_exit_codes_and_exec_errors(tmp_path: Path, cgroup_parent: str) -> None:
    busybox_rootfs(tmp_path / "rootfs")
    runtime("spec", cwd=tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["process"]["terminal"] = False
    config["linux"]["cgroupsPath"] = f"/{cgroup_parent}/c2"
    for args, code, message in (
        (["sh", "-c", "exit 7"], 7, ""),
        (["nosuch"], 127, 'exec: "nosuch": executable file not found in $PATH'),
    ):
        config["process"]["args"] = args
        (tmp_path / "config.json").write_text(json.dumps(config))
        result = runtime("run", "c2", cwd=tmp_path)
        assert result.returncode == code
        assert message in result.stderr
