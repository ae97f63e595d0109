"""`ketch-runtime spec` and `run` on a busybox bundle, as runc would be driven."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch.runtime import cgroups
from ketch.testing.rootfs import busybox_rootfs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and cgroups"),
    pytest.mark.timeout(60),
]


def runtime(*args: str, cwd: Path, **options: Any) -> subprocess.CompletedProcess[str]:
    options.setdefault("capture_output", "stdout" not in options)
    return subprocess.run(
        [sys.executable, "-m", "ketch.runtime.cli", "--root", str(cwd / "state"), *args],
        cwd=cwd,
        text=True,
        timeout=30,
        **options,
    )


def create(tmp_path: Path, *args: str) -> tuple[int, str]:
    """`create`, with stdio in files: the container keeps them, as it keeps containerd's fifos."""
    with open(tmp_path / "create.out", "w+") as out:
        result = runtime(
            "create", *args, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
        out.seek(0)
        return result.returncode, out.read()


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    parent = f"ketch-test-rt-{uuid.uuid4().hex[:8]}"
    yield parent
    layout = cgroups.detect_layout()
    mounts = layout.v1_mounts.values() if layout.version == 1 else [layout.v2_mount]
    for mount_point in mounts:
        directory = Path(str(mount_point)) / parent
        if not directory.exists():
            continue
        for child in [p for p in directory.iterdir() if p.is_dir()]:
            # A test that failed midway may leave its container: stop it by pid.
            for pid in (child / "cgroup.procs").read_text().split():
                os.kill(int(pid), 9)
            deadline = time.monotonic() + 5
            while child.exists() and time.monotonic() < deadline:
                try:
                    child.rmdir()
                except OSError:
                    time.sleep(0.02)
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


def bundle_for(tmp_path: Path, cgroup_parent: str, name: str, args: list[str]) -> Path:
    busybox_rootfs(tmp_path / "rootfs")
    runtime("spec", cwd=tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    config["linux"]["cgroupsPath"] = f"/{cgroup_parent}/{name}"
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def oci_state(tmp_path: Path, name: str) -> dict[str, Any]:
    result = runtime("state", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_create_start_state_kill_delete_as_containerd_drives_it(
    tmp_path: Path, cgroup_parent: str
) -> None:
    bundle_for(tmp_path, cgroup_parent, "c3", ["sh", "-c", "echo started > /tmp/mark; sleep 100"])
    log = tmp_path / "log.json"
    try:
        code, output = create(tmp_path, "--pid-file", "pid", "c3")
        assert code == 0, output
        state = oci_state(tmp_path, "c3")
        assert state["status"] == "created"
        assert state["pid"] == int((tmp_path / "pid").read_text())
        assert state["bundle"] == str(tmp_path) and state["created"].endswith("Z")
        assert not Path(f"/proc/{state['pid']}/root/tmp/mark").exists()  # not started yet
        again = runtime("--log", str(log), "--log-format", "json", "create", "c3", cwd=tmp_path)
        assert again.returncode == 1
        assert json.loads(log.read_text())["msg"] == "container with id exists: c3"
        assert runtime("start", "c3", cwd=tmp_path).returncode == 0
        assert oci_state(tmp_path, "c3")["status"] == "running"
        listed = runtime("ps", "--format", "json", "c3", cwd=tmp_path)
        assert state["pid"] in json.loads(listed.stdout)
        assert runtime("update", "--pids-limit", "33", "c3", cwd=tmp_path).returncode == 0
        layout = cgroups.detect_layout()
        pids_dir = (
            Path(layout.v1_mounts["pids"]) if layout.version == 1 else Path(str(layout.v2_mount))
        )
        assert (pids_dir / cgroup_parent / "c3" / "pids.max").read_text().strip() == "33"
        assert runtime("pause", "c3", cwd=tmp_path).returncode == 0
        assert oci_state(tmp_path, "c3")["status"] == "paused"
        assert runtime("resume", "c3", cwd=tmp_path).returncode == 0
        refused = runtime("delete", "c3", cwd=tmp_path)
        assert refused.returncode == 1
        assert "cannot delete container c3 that is not stopped: running" in refused.stderr
        done = runtime("exec", "c3", "cat", "/tmp/mark", cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, "started\n")
        failed = runtime("exec", "c3", "sh", "-c", "exit 5", cwd=tmp_path)
        assert failed.returncode == 5
        missing = runtime("exec", "c3", "nosuch", cwd=tmp_path)
        assert missing.returncode == 127
        assert runtime("kill", "c3", "KILL", cwd=tmp_path).returncode == 0
        deadline = time.monotonic() + 5
        while oci_state(tmp_path, "c3")["status"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert oci_state(tmp_path, "c3")["status"] == "stopped"
    finally:
        runtime("delete", "--force", "c3", cwd=tmp_path)
    assert runtime("state", "c3", cwd=tmp_path).returncode == 1
    assert not (tmp_path / "state" / "c3").exists()


def test_create_reports_a_missing_command(tmp_path: Path, cgroup_parent: str) -> None:
    bundle_for(tmp_path, cgroup_parent, "c4", ["nosuch"])
    code, output = create(tmp_path, "c4")
    assert code == 127
    assert 'exec: "nosuch": executable file not found in $PATH' in output
    assert not (tmp_path / "state" / "c4").exists()


def test_console_socket_receives_the_pty_master(tmp_path: Path, cgroup_parent: str) -> None:
    bundle_for(tmp_path, cgroup_parent, "c5", ["sh", "-c", "tty; stty size"])
    config = json.loads((tmp_path / "config.json").read_text())
    config["process"]["terminal"] = True
    (tmp_path / "config.json").write_text(json.dumps(config))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "console.sock"))
    listener.listen(1)
    master = -1
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "ketch.runtime.cli", "--root", str(tmp_path / "state"),
             "create", "--console-socket", str(tmp_path / "console.sock"), "c5"],
            cwd=tmp_path,
        ) as creating:  # fmt: skip
            conn, _ = listener.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 16, 1)
            assert creating.wait(timeout=30) == 0
        master = fds[0]
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 81, 0, 0))
        assert runtime("start", "c5", cwd=tmp_path).returncode == 0
        output = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break  # EIO: the container's side of the pty closed
            if not chunk:
                break
            output += chunk
        assert output.decode().split("\r\n")[:2] == ["/dev/pts/0", "24 81"]
    finally:
        listener.close()
        if master >= 0:
            os.close(master)
        runtime("delete", "--force", "c5", cwd=tmp_path)
