"""Containers run by real shims from a real fork server: namespaces, cgroups, stdio, exec.

Needs root. Each test has its own temp dirs and its own cgroup parent, and
stops what it started by pid, even when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch.runtime import cgroups
from ketch.shim import frames
from ketch.shim.client import (
    ForkServer,
    ForkServerGone,
    ShimConnection,
    ShimError,
    read_frame,
    write_frame,
)
from ketch.shim.spec import ExecSpec, ExitStatus, ShimSpec
from ketch.shim.state import is_same_process, read_state
from ketch.testing.rootfs import busybox_rootfs, container_bundle

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and cgroups"),
    pytest.mark.timeout(60),
]


@pytest.fixture(scope="module")
def lower(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_rootfs(tmp_path_factory.mktemp("busybox"))


class Box:
    """A fork server and the containers a test makes, all removed at the end."""

    def __init__(self, lower: Path) -> None:
        self.lower = lower
        # Short: unix socket paths are limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="kt"))
        self.cgroup_parent = f"ketch-test-{uuid.uuid4().hex[:8]}"
        self.specs: list[ShimSpec] = []
        self.forkserver: ForkServer | None = None

    async def start(self) -> None:
        self.forkserver = await ForkServer.start(self.root / "run")

    async def stop(self) -> None:
        if self.forkserver is not None:
            await self.forkserver.close()
            self.forkserver = None

    async def create(
        self,
        args: list[str],
        *,
        shim: dict[str, Any] | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
        **spec_options: Any,
    ) -> tuple[ShimConnection, ShimSpec]:
        """A created container; `edit` changes config.json's dict before the shim reads it."""
        assert self.forkserver is not None
        name = uuid.uuid4().hex[:12]
        directory = self.root / name
        bundle, mounts = container_bundle(directory, self.lower, args, **spec_options)
        if edit is not None:
            config = json.loads((bundle / "config.json").read_text())
            edit(config)
            (bundle / "config.json").write_text(json.dumps(config))
        spec = ShimSpec(
            id=name,
            bundle=bundle,
            rootfs_mounts=mounts,
            state_dir=directory,
            socket_path=self.root / "run" / "s" / f"{name}.sock",
            **{
                "log_path": directory / f"{name}-json.log",
                "cgroup_parent": self.cgroup_parent,
                "linger_seconds": 5,
                **(shim or {}),
            },
        )
        self.specs.append(spec)
        await self.forkserver.spawn(spec)
        return await ShimConnection.connect(spec.socket_path), spec

    async def run(self, args: list[str], **options: Any) -> tuple[ExitStatus, bytes, bytes]:
        """Create, attach, start and wait: (exit, stdout, stderr)."""
        conn, _ = await self.create(args, **options)
        try:
            reader, writer = await conn.attach(stdin=False, stdout=True, stderr=True)
            await conn.start()
            out, err, _ = await collect(reader)
            writer.close()
            return await conn.wait(), out, err
        finally:
            await conn.close()

    def cleanup(self) -> None:
        for spec in self.specs:
            state = read_state(spec.state_dir) or {}
            for pid_key in ("init", "shim"):
                pid, start = state.get(f"{pid_key}_pid"), state.get(f"{pid_key}_start_time")
                if is_same_process(pid, start):
                    os.kill(pid, signal.SIGKILL)
        layout = cgroups.detect_layout()
        mounts = layout.v1_mounts.values() if layout.version == 1 else [layout.v2_mount]
        deadline = time.monotonic() + 5
        for mount_point in mounts:
            parent = Path(str(mount_point)) / self.cgroup_parent
            for child in sorted(parent.glob("*/"), reverse=True) if parent.exists() else []:
                for pid in (child / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
                while child.exists() and time.monotonic() < deadline:
                    try:
                        child.rmdir()
                    except OSError:
                        time.sleep(0.02)
            if parent.exists():
                parent.rmdir()
        shutil.rmtree(self.root, ignore_errors=True)


async def collect(reader: asyncio.StreamReader) -> tuple[bytes, bytes, int | None]:
    out, err, code = bytearray(), bytearray(), None
    while (frame := await read_frame(reader)) is not None:
        kind, payload = frame
        if kind == frames.STDOUT:
            out += payload
        elif kind == frames.STDERR:
            err += payload
        elif kind == frames.EXIT:
            code = int(payload)
    return bytes(out), bytes(err), code


@pytest.fixture
def box(lower: Path) -> Iterator[Box]:
    made = Box(lower)
    try:
        yield made
    finally:
        made.cleanup()


def run(box: Box, main: Callable[[], Awaitable[Any]]) -> Any:
    """Run `main` with the box's fork server up, and close it after."""

    async def with_forkserver() -> Any:
        await box.start()
        try:
            return await main()
        finally:
            await box.stop()

    return asyncio.run(with_forkserver())


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def test_isolation_pid1_hostname_proc_and_loopback(box: Box) -> None:
    async def main() -> tuple[ExitStatus, bytes, bytes]:
        script = "echo $$; hostname; ls /proc | grep -c '^[0-9]'; cat /sys/class/net/lo/operstate;"
        script += " ls /sys/class/net; cat /proc/1/cmdline | tr '\\0' ' '"
        return await box.run(sh(script), hostname="boxy")

    status, out, err = run(box, main)
    assert (status.code, err) == (0, b"")
    pid, hostname, nprocs, lo_state, interfaces, cmdline = out.decode().split("\n", 5)
    assert pid == "1" and hostname == "boxy"
    assert int(nprocs) <= 3  # sh, and the pipeline's ls and grep
    assert lo_state in ("unknown", "up")
    assert interfaces == "lo"
    assert cmdline.startswith("sh -c echo $$;")


def test_mounts_are_private_and_gone_after_exit(box: Box) -> None:
    with open("/proc/self/mountinfo") as f:
        before = f.read()

    async def main() -> tuple[ExitStatus, bytes, bytes]:
        script = "cat /proc/self/mountinfo; echo ==; stat -c '%t:%T %s' /proc/keys;"
        script += " ls /sys/firmware | wc -l; echo x > /proc/sys/kernel/domainname"
        return await box.run(sh(script))

    status, out, err = run(box, main)
    assert status.code == 1  # the write to read-only /proc/sys
    assert b"Read-only file system" in err
    inside, masks = out.decode().split("==\n")
    mount_points = [line.split()[4] for line in inside.splitlines() if " - " in line]
    assert not [m for m in mount_points if str(box.root) in m]
    assert mount_points[0] == "/"
    assert {"/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/dev/mqueue"} <= set(mount_points)
    # Only the container's own mounts: none of the host's (its /home, /tmp, ...) shows through.
    assert all(m == "/" or m.startswith(("/proc", "/dev", "/sys")) for m in mount_points)
    assert masks.split("\n")[:2] == ["1:3 0", "0"]  # /proc/keys is /dev/null; /sys/firmware empty
    time.sleep(0.1)
    with open("/proc/self/mountinfo") as f:
        after = f.read()
    # The overlay was mounted inside the container's mount namespace only: the
    # host never saw a mount under this test's root (a machine-wide count would
    # also see other runs' mounts).
    assert str(box.root) not in before
    assert str(box.root) not in after


def test_root_keeps_dockers_default_capabilities(box: Box) -> None:
    async def main() -> tuple[ExitStatus, bytes, bytes]:
        return await box.run(sh("grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status; id"))

    status, out, _ = run(box, main)
    lines = out.decode().splitlines()
    assert lines[:3] == [
        "CapPrm:\t00000000a80425fb",
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
    ]
    assert lines[3].startswith("uid=0(root) gid=0(root)")


def test_user_switch_drops_effective_caps_and_sets_groups(box: Box) -> None:
    async def main() -> tuple[ExitStatus, bytes, bytes]:
        return await box.run(
            sh("id; grep -E '^Cap(Eff|Bnd)' /proc/self/status; touch /root/x"),
            uid=1000,
            gid=1000,
            additional_gids=[29],
        )

    status, out, err = run(box, main)
    lines = out.decode().splitlines()
    assert lines[0] == "uid=1000(app) gid=1000(app) groups=29(audio)"
    assert lines[1:] == ["CapEff:\t0000000000000000", "CapBnd:\t00000000a80425fb"]
    assert b"Permission denied" in err
    assert status.code == 1


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("exit 3", 3), ("exit 255", 255)])
def test_exit_codes(box: Box, script: str, code: int) -> None:
    async def main() -> tuple[ExitStatus, bytes, bytes]:
        return await box.run(sh(script))

    status, _, _ = run(box, main)
    assert status.code == code
    assert status.oom_killed is False
    assert status.finished_at.endswith("Z")


def test_kill_from_outside_is_128_plus_signal_and_state_recorded(box: Box) -> None:
    async def main() -> tuple[ExitStatus, dict[str, Any], ShimSpec]:
        conn, spec = await box.create(["sleep", "1000"])
        await conn.start()
        running = await conn.state()
        assert running["status"] == "running"
        await conn.kill(signal.SIGKILL)
        status = await conn.wait()
        await conn.close()
        return status, running, spec

    status, running, spec = run(box, main)
    assert status.code == 137
    state = read_state(spec.state_dir)
    assert state is not None
    assert (state["status"], state["exit_code"]) == ("exited", 137)
    assert state["init_pid"] == running["init_pid"] and state["started_at"]


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["nosuchcmd"], 'exec: "nosuchcmd": executable file not found in $PATH', 127),
        (["/etc/passwd"], 'exec: "/etc/passwd": permission denied', 126),
    ],
)
def test_command_that_cannot_exec_fails_start_in_dockers_words(
    box: Box, args: list[str], message: str, code: int
) -> None:
    async def main() -> tuple[ShimError, ExitStatus]:
        conn, _ = await box.create(args)
        with pytest.raises(ShimError) as caught:
            await conn.start()
        status = await conn.wait()
        await conn.close()
        return caught.value, status

    error, status = run(box, main)
    assert (error.message, error.kind, error.exit_code) == (message, "start", code)
    assert status.code == code


def test_memory_limit_oom_kill_is_137_and_reported(box: Box) -> None:
    async def main() -> tuple[ExitStatus, bytes, bytes]:
        limit = 16 * 1024 * 1024
        resources = {"memory": {"limit": limit, "swap": limit}}
        return await box.run(["tail", "/dev/zero"], resources=resources)

    status, _, _ = run(box, main)
    assert (status.code, status.oom_killed) == (137, True)


def test_pids_limit_is_enforced(box: Box) -> None:
    async def main() -> tuple[ExitStatus, bytes, bytes]:
        script = "for i in 1 2 3 4 5 6 7 8; do sleep 5 & echo $i; done"
        return await box.run(sh(script), resources={"pids": {"limit": 4}})

    status, out, err = run(box, main)
    assert b"can't fork" in err or b"Resource temporarily unavailable" in err, err
    assert out == b"1\n2\n3\n"  # sh and three sleeps fill pids.max
    assert status.code != 0


def test_cgroup_limits_applied_and_removed_at_shutdown(box: Box) -> None:
    resources = {
        "memory": {"limit": 64 * 1024 * 1024},
        "cpu": {"quota": 50000, "period": 100000},
        "pids": {"limit": 99},
    }

    async def main() -> tuple[bytes, ShimSpec]:
        conn, spec = await box.create(["cat", "/proc/self/cgroup"], resources=resources)
        reader, _ = await conn.attach(False, True, True)
        await conn.start()
        out, _, _ = await collect(reader)
        await conn.shutdown()
        await conn.close()
        return out, spec

    layout = cgroups.detect_layout()
    out, spec = run(box, main)
    if layout.version == 1:
        memory = Path(layout.v1_mounts["memory"]) / box.cgroup_parent / spec.id
        assert b":memory:/\n" in out  # the cgroup namespace is rooted at the container's
    else:
        memory = Path(str(layout.v2_mount)) / box.cgroup_parent / spec.id
        assert b"0::/\n" in out
    deadline = time.monotonic() + 3
    while memory.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not memory.exists()
    assert not spec.socket_path.exists()
    assert read_state(spec.state_dir)["exit_code"] == 0


def test_cgroup_files_hold_the_limits(box: Box) -> None:
    layout = cgroups.detect_layout()
    if layout.version != 1:
        pytest.skip("v1 file names")

    async def main() -> tuple[ShimConnection, ShimSpec]:
        return await box.create(
            ["sleep", "100"],
            resources={
                "memory": {"limit": 64 << 20},
                "cpu": {"quota": 50000, "period": 100000},
                "pids": {"limit": 99},
            },
        )

    async def check() -> None:
        conn, spec = await main()
        base = box.cgroup_parent + "/" + spec.id
        read = lambda c, f: (Path(layout.v1_mounts[c]) / base / f).read_text().strip()  # noqa: E731
        assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
        assert read("cpu", "cpu.cfs_quota_us") == "50000"
        assert read("pids", "pids.max") == "99"
        state = await conn.state()
        assert read("pids", "cgroup.procs") == str(state["init_pid"])
        await conn.shutdown(force=True)
        await conn.close()

    run(box, check)


def test_tty_mode_runs_on_a_pty_with_a_console(box: Box) -> None:
    async def main() -> tuple[bytes, int | None]:
        conn, _ = await box.create(
            sh("tty; ls -l /dev/console | cut -c1; stty size; echo out; echo err >&2"),
            tty=True,
            shim={"tty": True},
        )
        reader, writer = await conn.attach(False, True, True)
        await conn.resize(30, 100)
        await conn.start()
        out, err, code = await collect(reader)
        assert err == b""
        await conn.close()
        return out, code

    out, code = run(box, main)
    lines = out.decode().splitlines()
    assert lines[0].startswith("/dev/pts/")  # a pty of the container's own devpts
    assert lines[1:] == ["c", "30 100", "out", "err"]
    assert b"\r\n" in out  # the pty's line discipline, as with docker run -t
    assert code == 0


def test_attach_stdin_round_trip_and_stdin_once(box: Box) -> None:
    async def main() -> tuple[bytes, ExitStatus]:
        conn, _ = await box.create(
            ["sh", "-c", "while read line; do echo got:$line; done; echo eof"],
            shim={"open_stdin": True, "stdin_once": True},
        )
        reader, writer = await conn.attach(True, True, True)
        await conn.start()
        write_frame(writer, frames.STDIN, b"hello\n")
        first = await read_frame(reader)
        write_frame(writer, frames.STDIN, b"world\n")
        write_frame(writer, frames.CLOSE_STDIN)
        await writer.drain()
        out, _, _ = await collect(reader)
        status = await conn.wait()
        await conn.close()
        assert first is not None
        return first[1] + out, status

    out, status = run(box, main)
    assert out == b"got:hello\ngot:world\neof\n"
    assert status.code == 0


def test_output_fans_out_to_every_attach_and_to_the_log(box: Box) -> None:
    async def main() -> tuple[list[bytes], ShimSpec]:
        conn, spec = await box.create(
            sh("read x; echo line-$x; echo bad >&2"), shim={"open_stdin": True}
        )
        a = await conn.attach(True, True, False)
        b = await conn.attach(False, True, True)
        await conn.start()
        write_frame(a[1], frames.STDIN, b"7\n")
        outs = [(await collect(a[0]))[0], b"|".join((await collect(b[0]))[:2])]
        await conn.wait()
        await conn.close()
        return outs, spec

    outs, spec = run(box, main)
    assert outs == [b"line-7\n", b"line-7\n|bad\n"]
    entries = [json.loads(x) for x in spec.log_path.read_text().splitlines()]
    assert [(e["log"], e["stream"]) for e in entries] == [
        ("line-7\n", "stdout"),
        ("bad\n", "stderr"),
    ]


def test_log_rotates_at_max_size(box: Box) -> None:
    async def main() -> ShimSpec:
        script = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"
        conn, spec = await box.create(sh(script), shim={"log_max_size": 4096, "log_max_files": 2})
        await conn.start()
        await conn.wait()
        await conn.close()
        return spec

    spec = run(box, main)
    log = spec.log_path
    assert log.exists() and Path(f"{log}.1").exists() and not Path(f"{log}.2").exists()
    assert log.stat().st_size <= 4096
    last = [json.loads(x)["log"] for x in log.read_text().splitlines()][-1]
    assert last == "line 299\n"


def test_exec_joins_the_container(box: Box) -> None:
    async def main() -> tuple[bytes, ExitStatus, ExitStatus, ShimError]:
        conn, _ = await box.create(["sleep", "1000"], hostname="inner")
        await conn.start()
        exec_id = await conn.exec(
            ExecSpec(id="e1", args=["sh", "-c", "ps -o pid,comm; hostname; exit 5"])
        )
        reader, _ = await conn.exec_attach(exec_id)
        await conn.exec_start(exec_id)
        out, _, code = await collect(reader)
        status = await conn.exec_wait(exec_id)
        await conn.exec(ExecSpec(id="e2", args=["nosuch"], user="1000"))
        with pytest.raises(ShimError) as caught:
            await conn.exec_start("e2")
        missing = await conn.exec_wait("e2")
        await conn.kill(signal.SIGKILL)
        await conn.wait()
        await conn.close()
        assert code == 5
        return out, status, missing, caught.value

    out, status, missing, error = run(box, main)
    lines = out.decode().split()
    assert lines[:6] == ["PID", "COMMAND", "1", "sleep", lines[4], "sh"]
    assert "ps" in lines and lines[-1] == "inner"
    assert status.code == 5
    assert error.exit_code == 127 and "executable file not found" in error.message
    assert missing.code == 127


def test_exec_with_tty_and_user(box: Box) -> None:
    async def main() -> bytes:
        conn, _ = await box.create(["sleep", "1000"])
        await conn.start()
        script = "id -u; tty; read size; stty size"
        await conn.exec(
            ExecSpec(id="t", args=["sh", "-c", script], tty=True, user="app", stdin=True)
        )
        reader, writer = await conn.exec_attach("t")
        await conn.exec_start("t")
        seen = b""
        while b"/dev/pts/" not in seen or not seen.endswith(b"\r\n"):
            frame = await read_frame(reader)
            assert frame is not None
            seen += frame[1]
        await conn.exec_resize("t", 33, 120)
        write_frame(writer, frames.STDIN, b"go\n")
        rest, _, _ = await collect(reader)
        out = seen + rest
        await conn.kill(signal.SIGKILL)
        await conn.close()
        return out

    out = run(box, main)
    lines = out.decode().split("\r\n")
    assert lines[0] == "1000" and lines[1].startswith("/dev/pts/")
    assert lines[2:4] == ["go", "33 120"]  # the pty echoes input; the size is the resized one


def test_exec_gets_its_fields_byte_for_byte_and_the_containers_cgroup(box: Box) -> None:
    """The monitor hands the exec's fields to the helper without JSON, and moves it into the
    container's cgroup while the helper starts."""
    script = 'printf "%s|" "$@"; echo "$V"; pwd; '
    script += '[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] && echo same'
    args = ["sh", "-c", script, "sh", "a\nb", "k=v", "", "\u00e9\u2603\U0001d11e"]

    async def main() -> tuple[bytes, ExitStatus]:
        conn, _ = await box.create(["sleep", "1000"])
        await conn.start()
        await conn.exec(ExecSpec(id="f", args=args, env=["V=x=y", "PATH=/bin"], cwd="/tmp"))
        reader, _ = await conn.exec_attach("f")
        await conn.exec_start("f")
        out, _, _ = await collect(reader)
        status = await conn.exec_wait("f")
        await conn.kill(signal.SIGKILL)
        await conn.close()
        return out, status

    out, status = run(box, main)
    assert status.code == 0
    assert out.decode() == "a\nb|k=v||\u00e9\u2603\U0001d11e|x=y\n/tmp\nsame\n"


def test_exec_with_a_nul_byte_in_an_argument_fails_to_start(box: Box) -> None:
    async def main() -> ShimError:
        conn, _ = await box.create(["sleep", "1000"])
        await conn.start()
        await conn.exec(ExecSpec(id="z", args=["echo", "a\x00b"]))
        with pytest.raises(ShimError) as caught:
            await conn.exec_start("z")
        await conn.kill(signal.SIGKILL)
        await conn.close()
        return caught.value

    error = run(box, main)
    assert error.exit_code == 126 and "null byte" in error.message


def test_exec_that_cannot_join_the_cgroup_fails_as_pythons_open_says(box: Box) -> None:
    """The monitor's failed move reads as the helper's own open() of the procs file did."""
    layout = cgroups.detect_layout()
    if layout.version != 1:
        pytest.skip("a v1 hierarchy the init can leave")

    async def main() -> tuple[ShimError, str]:
        conn, spec = await box.create(["sleep", "1000"])
        await conn.start()
        pids = Path(layout.v1_mounts["pids"])
        container = pids / box.cgroup_parent / spec.id
        (pids / "cgroup.procs").write_text(str((await conn.state())["init_pid"]))
        container.rmdir()
        await conn.exec(ExecSpec(id="g", args=["true"]))
        with pytest.raises(ShimError) as caught:
            await conn.exec_start("g")
        await conn.kill(signal.SIGKILL)
        await conn.close()
        return caught.value, str(container / "cgroup.procs")

    error, procs = run(box, main)
    with pytest.raises(OSError) as opened:
        open(procs, "w")
    assert error.exit_code == 126
    assert error.message == f"exec setup: {opened.value}"


SURVIVOR = """
import asyncio, sys
from pathlib import Path
from ketch.shim.client import ForkServer
from ketch.shim.spec import ShimSpec
async def main():
    fs = await ForkServer.start(Path(sys.argv[1]))
    spec = ShimSpec.from_dict(__import__("json").loads(sys.argv[2]))
    await fs.spawn(spec)
    print(fs.process.pid, flush=True)
    await asyncio.sleep(1000)
asyncio.run(main())
"""


def test_shim_outlives_fork_server_and_daemon(box: Box) -> None:
    async def prepare() -> ShimSpec:
        name = uuid.uuid4().hex[:12]
        bundle, mounts = container_bundle(box.root / name, box.lower, sh("read x; echo got $x"))
        spec = ShimSpec(
            id=name,
            bundle=bundle,
            rootfs_mounts=mounts,
            state_dir=box.root / name,
            socket_path=box.root / "run2" / f"{name}.sock",
            open_stdin=True,
            cgroup_parent=box.cgroup_parent,
            linger_seconds=5,
        )
        box.specs.append(spec)
        return spec

    spec = asyncio.run(prepare())
    daemon = subprocess.Popen(
        [sys.executable, "-c", SURVIVOR, str(box.root / "run2"), json.dumps(spec.to_dict())],
        stdout=subprocess.PIPE,
    )
    try:
        assert daemon.stdout is not None
        forkserver_pid = int(daemon.stdout.readline())
    finally:
        daemon.kill()
        daemon.wait()
    # It may be gone already: it ends with its daemon (the death signal, or the closed
    # connection); the point is that the shim outlives both.
    with contextlib.suppress(ProcessLookupError):
        os.kill(forkserver_pid, signal.SIGKILL)
    state = read_state(spec.state_dir)
    assert state is not None and is_same_process(state["shim_pid"], state["shim_start_time"])

    async def from_a_new_process() -> tuple[bytes, ExitStatus]:
        conn = await ShimConnection.connect(spec.socket_path)
        reader, writer = await conn.attach(True, True, True)
        await conn.start()
        write_frame(writer, frames.STDIN, b"42\n")
        out, _, _ = await collect(reader)
        status = await conn.wait()
        await conn.shutdown()
        await conn.close()
        return out, status

    out, status = asyncio.run(from_a_new_process())
    assert out == b"got 42\n" and status.code == 0
    deadline = time.monotonic() + 3
    while (
        is_same_process(state["shim_pid"], state["shim_start_time"]) and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert not is_same_process(state["shim_pid"], state["shim_start_time"])
    assert read_state(spec.state_dir)["exit_code"] == 0


def test_device_cgroup_denies_all_but_the_defaults(box: Box) -> None:
    async def main() -> tuple[ExitStatus, bytes, bytes]:
        script = "echo x > /dev/null && head -c 3 /dev/zero | wc -c; mknod /tmp/disk b 8 0;"
        script += " head -c 1 /tmp/disk"
        resources = {"devices": [{"allow": False, "access": "rwm"}]}
        return await box.run(sh(script), resources=resources)

    layout = cgroups.detect_layout()
    if layout.version != 1:
        pytest.skip("the device cgroup is v1 only for now")
    status, out, err = run(box, main)
    assert out == b"3\n"
    assert b"Operation not permitted" in err
    assert status.code == 1


def test_a_new_shim_for_the_same_container_survives_the_old_ones_exit(box: Box) -> None:
    async def main() -> tuple[bytes, bool]:
        conn, spec = await box.create(["true"], shim={"linger_seconds": 0.3})
        await conn.start()
        await conn.wait()
        await conn.close()  # the old shim now lingers, then cleans up
        assert box.forkserver is not None
        await box.forkserver.spawn(spec)  # same id, socket path and cgroup
        again = await ShimConnection.connect(spec.socket_path)
        await asyncio.sleep(0.6)  # the old shim has gone meanwhile
        reader, _ = await again.attach(False, True, True)
        await again.start()
        out, _, _ = await collect(reader)
        await again.wait()
        alive = spec.socket_path.exists()
        await again.shutdown()
        await again.close()
        return out, alive

    out, alive = run(box, main)
    assert alive
    assert out == b""


def test_read_only_root_and_no_new_privileges(box: Box) -> None:
    async def main() -> tuple[ExitStatus, bytes, bytes]:
        script = "grep NoNewPrivs /proc/self/status; touch /x; touch /dev/shm/ok && echo shm"
        return await box.run(sh(script), readonly_rootfs=True, no_new_privileges=True)

    status, out, err = run(box, main)
    assert out == b"NoNewPrivs:\t1\nshm\n"
    assert b"Read-only file system" in err
    assert status.code == 0


def test_sysctl_devices_oom_score_and_umask_from_config(box: Box) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"}
        config["linux"]["devices"] = [
            {
                "path": "/dev/mynull",
                "type": "c",
                "major": 1,
                "minor": 3,
                "fileMode": 0o620,
                "gid": 5,
            }
        ]
        config["process"]["oomScoreAdj"] = 123
        config["process"]["user"]["umask"] = 0o077

    async def main() -> tuple[ExitStatus, bytes, bytes]:
        script = (
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/self/oom_score_adj;"
        )
        script += " stat -c '%A %t:%T %g' /dev/mynull; umask"
        return await box.run(sh(script), edit=edit)

    status, out, err = run(box, main)
    assert (status.code, err) == (0, b"")
    assert out == b"1\n4096\n123\ncrw--w---- 1:3 5\n0077\n"
    with open("/proc/sys/kernel/msgmax") as f:
        assert f.read().strip() != "4096"  # the host's IPC namespace is untouched


def test_megabytes_through_attach_both_ways(box: Box) -> None:
    size = 5 * 1024 * 1024

    async def main() -> tuple[bytes, int]:
        conn, _ = await box.create(
            sh("sleep 0.2; wc -c; head -c 3000000 /dev/zero"),
            shim={"open_stdin": True, "stdin_once": True, "log_path": None},
        )
        reader, writer = await conn.attach(True, True, True)
        await conn.start()
        chunk = b"z" * 65536
        for _ in range(size // len(chunk)):
            write_frame(writer, frames.STDIN, chunk)
            await writer.drain()
        write_frame(writer, frames.CLOSE_STDIN)
        await writer.drain()
        out, _, code = await collect(reader)
        await conn.close()
        return out, code or 0

    out, code = run(box, main)
    count, _, zeros = out.partition(b"\n")
    assert int(count) == size
    assert zeros == b"\0" * 3_000_000
    assert code == 0


SECCOMP_DENY_MKDIR_AND_CHMOD_777 = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {
            "names": ["chmod"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}],
        },
        {
            "names": ["fchmodat"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}],
        },
    ],
}


@pytest.mark.parametrize("no_new_privileges", [False, True])
def test_seccomp_filter_applies_to_init_and_exec(box: Box, no_new_privileges: bool) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["seccomp"] = SECCOMP_DENY_MKDIR_AND_CHMOD_777

    script = "mkdir /tmp/d; touch /tmp/f; chmod 755 /tmp/f && echo 755-ok; chmod 777 /tmp/f;"
    script += " grep Seccomp: /proc/self/status; read x"

    async def main() -> tuple[bytes, bytes, bytes]:
        conn, _ = await box.create(
            sh(script), edit=edit, no_new_privileges=no_new_privileges, shim={"open_stdin": True}
        )
        reader, writer = await conn.attach(True, True, True)
        await conn.start()
        await conn.exec(ExecSpec(id="x", args=["mkdir", "/tmp/e"]))
        exec_reader, _ = await conn.exec_attach("x")
        await conn.exec_start("x")
        _, exec_err, _ = await collect(exec_reader)
        write_frame(writer, frames.STDIN, b"done\n")
        out, err, _ = await collect(reader)
        await conn.close()
        return out, err, exec_err

    out, err, exec_err = run(box, main)
    assert out == b"755-ok\nSeccomp:\t2\n"
    assert b"mkdir: can't create directory '/tmp/d': Permission denied" in err
    assert b"chmod: /tmp/f: Operation not permitted" in err
    assert b"Permission denied" in exec_err


def test_default_deny_profile_from_docker_format(box: Box) -> None:
    from ketch.runtime.seccomp import default_profile, profile_to_spec

    allowed = {name for rule in default_profile()["syscalls"] for name in rule["names"]}
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "syscalls": [
            {"names": sorted(allowed - {"uname"}), "action": "SCMP_ACT_ALLOW"},
            {
                "names": ["uname"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"caps": ["CAP_SYS_ADMIN"]},
            },
        ],
    }

    def edit(config: dict[str, Any]) -> None:
        caps = config["process"]["capabilities"]["bounding"]
        config["linux"]["seccomp"] = profile_to_spec(profile, caps)

    async def main() -> tuple[ExitStatus, bytes, bytes]:
        return await box.run(
            sh("echo before; uname -s; echo after; cat /proc/self/status"), edit=edit
        )

    status, out, err = run(box, main)
    lines = out.decode().splitlines()
    assert lines[0] == "before" and lines[2] == "after"
    assert lines[1] != "Linux"  # uname(2) failed with EPERM
    assert "Seccomp:\t2" in lines
    assert status.code == 0


def test_pause_freezes_and_resume_thaws(box: Box) -> None:
    script = "i=0; while true; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; done"

    async def main() -> tuple[list[str], list[int], ExitStatus]:
        conn, _ = await box.create(sh(script))
        await conn.start()
        counter = Path(f"/proc/{(await conn.state())['init_pid']}/root/tmp/n")
        await asyncio.sleep(0.1)
        await conn.pause()
        statuses = [(await conn.state())["status"]]
        seen = [int(counter.read_text())]
        await asyncio.sleep(0.1)
        seen.append(int(counter.read_text()))
        with pytest.raises(ShimError) as caught:
            await conn.pause()
        assert caught.value.kind == "conflict"
        await conn.resume()
        statuses.append((await conn.state())["status"])
        await asyncio.sleep(0.1)
        seen.append(int(counter.read_text()))
        await conn.pause()
        await conn.kill(signal.SIGKILL)  # a paused container can still be killed
        status = await conn.wait()
        await conn.close()
        return statuses, seen, status

    statuses, seen, status = run(box, main)
    assert statuses == ["paused", "running"]
    assert seen[0] == seen[1] < seen[2]
    assert status.code == 137


def test_kill_before_start_is_a_conflict_and_shutdown_force_removes(box: Box) -> None:
    async def main() -> tuple[ShimError, ShimSpec]:
        conn, spec = await box.create(["true"])
        with pytest.raises(ShimError) as caught:
            await conn.kill(signal.SIGTERM)
        await conn.shutdown(force=True)
        await conn.close()
        return caught.value, spec

    error, spec = run(box, main)
    assert (error.kind, error.status) == ("conflict", 409)
    assert error.message == f"Container {spec.id} is not running"
    deadline = time.monotonic() + 3
    while spec.socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not spec.socket_path.exists()
    assert read_state(spec.state_dir)["exit_code"] == 137


def test_bad_clients_and_a_full_log_disk_do_not_stop_the_shim(box: Box) -> None:
    from ketch.runtime import syscalls

    small = box.root / "small"
    small.mkdir()
    syscalls.mount("tmpfs", str(small), "tmpfs", 0, "size=64k")
    try:

        async def main() -> tuple[dict[str, Any], bytes, ExitStatus]:
            conn, spec = await box.create(
                sh("read x; head -c 300000 /dev/zero | tr '\\0' a; echo; echo got-$x"),
                shim={"open_stdin": True, "log_path": small / "c-json.log"},
            )
            reader, writer = await conn.attach(True, True, True)
            await conn.start()
            _, garbage = await asyncio.open_unix_connection(str(spec.socket_path))
            garbage.write(b"\xff" * 64)  # not a frame header
            await garbage.drain()
            _, bad_json = await asyncio.open_unix_connection(str(spec.socket_path))
            write_frame(bad_json, frames.CONTROL, b"{not json")
            await bad_json.drain()
            state = await conn.state()
            write_frame(writer, frames.STDIN, b"1\n")
            out, _, _ = await collect(reader)
            status = await conn.wait()
            garbage.close()
            bad_json.close()
            await conn.close()
            return state, out, status

        state, out, status = run(box, main)
    finally:
        syscalls.umount2(str(small), syscalls.MNT_DETACH)
    assert state["status"] == "running"
    assert out == b"a" * 300000 + b"\ngot-1\n"  # the disk filled at 64k; attach got it all
    assert status.code == 0


def test_a_setup_failure_is_reported_by_spawn(box: Box) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["mounts"].append(
            {
                "destination": "/data",
                "type": "bind",
                "source": "/nonexistent-ketch-test",
                "options": ["rbind"],
            }
        )

    async def main() -> ShimError:
        with pytest.raises(ShimError) as caught:
            await box.create(["true"], edit=edit)
        return caught.value

    error = run(box, main)
    assert "container init: " in error.message
    assert "/nonexistent-ketch-test" in error.message
    spec = box.specs[-1]
    assert not spec.socket_path.exists()
    layout = cgroups.detect_layout()
    base = Path(layout.v1_mounts["pids"]) if layout.version == 1 else Path(str(layout.v2_mount))
    assert not (base / box.cgroup_parent / spec.id).exists()


def test_a_cgroup_failure_is_reported_and_leaves_nothing(box: Box) -> None:
    async def main() -> ShimError:
        with pytest.raises(ShimError) as caught:
            await box.create(["true"], shim={"resources": {"cpu": {"quota": -5, "period": 1}}})
        return caught.value

    error = run(box, main)
    assert error.message  # the kernel's refusal of a 1 us period, in words
    spec = box.specs[-1]
    assert not spec.socket_path.exists()
    layout = cgroups.detect_layout()
    base = Path(layout.v1_mounts["cpu"]) if layout.version == 1 else Path(str(layout.v2_mount))
    assert not (base / box.cgroup_parent / spec.id).exists()


def test_privileged_exec_has_every_capability(box: Box) -> None:
    async def main() -> tuple[bytes, bytes]:
        conn, _ = await box.create(["sleep", "1000"])
        await conn.start()
        outputs = []
        for exec_id, privileged in (("plain", False), ("priv", True)):
            spec = ExecSpec(
                id=exec_id, args=["grep", "CapEff", "/proc/self/status"], privileged=privileged
            )
            await conn.exec(spec)
            reader, _ = await conn.exec_attach(exec_id)
            await conn.exec_start(exec_id)
            outputs.append((await collect(reader))[0])
        await conn.kill(signal.SIGKILL)
        await conn.close()
        return outputs[0], outputs[1]

    plain, privileged = run(box, main)
    with open("/proc/self/status") as f:
        # Every capability root has here (a host may withhold some, as this one may).
        held = next(line for line in f if line.startswith("CapPrm:")).split()[1]
    assert plain == b"CapEff:\t00000000a80425fb\n"
    assert privileged == f"CapEff:\t{held}\n".encode()
    assert int(held, 16) & ~0xA80425FB  # more than the default set


ABANDONER = """
import subprocess, sys
server = subprocess.Popen(
    [sys.executable, "-m", "ketch.shim.forkserver", sys.argv[1]], stdout=subprocess.PIPE
)
assert server.stdout.readline() == b"ready\\n"
print(server.pid, flush=True)
"""


def test_fork_server_goes_when_its_daemon_dies_before_connecting(tmp_path: Path) -> None:
    daemon = subprocess.run(
        [sys.executable, "-c", ABANDONER, str(tmp_path / "fs.sock")],
        capture_output=True,
        timeout=30,
    )
    assert daemon.returncode == 0, daemon.stderr
    server_pid = int(daemon.stdout)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{server_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if Path(f"/proc/{server_pid}").exists():
        os.kill(server_pid, signal.SIGKILL)  # leave nothing behind, then fail
        pytest.fail("the fork server outlived its daemon")


def _proc_status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except FileNotFoundError:
        return {}


def test_shims_are_forked_once_and_reaped_while_the_fork_server_runs(box: Box) -> None:
    """One fork per shim (a middle process's dirtied pages would be left to the shim), so a
    shim is the fork server's child: the fork server ignores SIGCHLD so the kernel reaps an
    exited shim at once, and the shim itself must not keep that setting."""

    async def main() -> tuple[dict[str, str], int, dict[str, str]]:
        assert box.forkserver is not None
        conn, spec = await box.create(["true"])
        shim_pid = (read_state(spec.state_dir) or {})["shim_pid"]
        running = _proc_status(shim_pid)
        await conn.start()
        await conn.wait()
        await conn.shutdown()
        await conn.close()
        # The fork server is still up here: an unreaped shim would stay a zombie.
        deadline = time.monotonic() + 10
        while _proc_status(shim_pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return running, box.forkserver.process.pid, _proc_status(shim_pid)

    running, forkserver_pid, after = run(box, main)
    assert running["Name"] == "ketch-shim"
    assert int(running["PPid"]) == forkserver_pid
    sigchld_bit = 1 << (signal.SIGCHLD - 1)
    assert not int(running["SigIgn"], 16) & sigchld_bit
    assert after == {}, f"shim left as {after.get('State')}"


def test_ps_shows_which_container_a_shim_holds(box: Box) -> None:
    """Every shim is a fork of one interpreter: its command line says which container it holds,
    as containerd-shim's `-id` does."""

    def cmdline(pid: int) -> list[str]:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode().replace("\0", " ").split()

    async def main() -> tuple[list[str], list[list[str]], list[str]]:
        assert box.forkserver is not None
        ids, shims = [], []
        for _ in range(2):
            conn, spec = await box.create(["true"])
            await conn.close()
            ids.append(spec.id)
            shims.append(cmdline((read_state(spec.state_dir) or {})["shim_pid"]))
        return ids, shims, cmdline(box.forkserver.process.pid)

    ids, shims, forkserver = run(box, main)
    assert [words[:3] for words in shims] == [["ketch-shim", "-id", i] for i in ids]
    assert forkserver == ["ketch-forkserver", str(box.root / "run" / "forkserver.sock")]


async def _one_reply(socket_path: Path, payload: bytes) -> dict[str, Any]:
    """The reply to one CONTROL frame on a connection of its own."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    try:
        write_frame(writer, frames.CONTROL, payload)
        await writer.drain()
        frame = await read_frame(reader)
        assert frame is not None and frame[0] == frames.CONTROL
        reply = json.loads(frame[1])
        assert isinstance(reply, dict)
        return reply
    finally:
        writer.close()


async def _closed_after(socket_path: Path, data: bytes, attach: bool = False) -> bytes:
    """What the monitor sends on a connection that gets `data` (after an attach request if
    `attach`) until it closes the connection."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    try:
        if attach:
            write_frame(writer, frames.CONTROL, json.dumps({"op": "attach"}).encode())
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


BAD_REQUESTS = [
    b"{not json",
    b"[1, 2]",
    b'"op"',
    b"",
    b"\xff\xfe{}",
    b"[" * 10000,
    b'{"op": "start"} trailing',
    b'{"op": "nope"}',
    b'{"op": 5}',
    b"{}",
    b'{"op": "start"}',  # started already
    b'{"op": "kill", "signal": "x"}',
    b'{"op": "kill", "signal": 99}',
    b'{"op": "kill", "id": "missing"}',
    b'{"op": "state", "id": "missing"}',
    b'{"op": "resize", "h": 1, "w": 2}',  # no tty
    b'{"op": "exec", "spec": 7}',
    b'{"op": "exec", "spec": {"id": 1}}',
    b'{"op": "exec_start", "id": "missing"}',
    b'{"op": "resume"}',  # not paused
    b'{"op": "shutdown"}',  # running, no force
    b'{"op": "wait", "id": "\\ud800"}',
]


def test_malformed_frames_and_requests_leave_the_container_alone(box: Box) -> None:
    async def main() -> tuple[list[dict[str, Any]], list[bytes], dict[str, Any], bytes, int]:
        conn, spec = await box.create(sh("read x; echo got-$x; exit 3"), shim={"open_stdin": True})
        reader, writer = await conn.attach(True, True, True)
        await conn.start()
        replies = [await _one_reply(spec.socket_path, bad) for bad in BAD_REQUESTS]
        closed = [
            await _closed_after(spec.socket_path, b"\x07\0\0\0\0\0\0\0"),  # no such type
            await _closed_after(spec.socket_path, b"\x01\x01\0\0\0\0\0\0"),  # padding not 0
            await _closed_after(spec.socket_path, b"\x06\0\0\0\x7f\xff\xff\xff"),  # too large
            await _closed_after(spec.socket_path, b"\xff" * 64),
            await _closed_after(spec.socket_path, frames.encode(frames.RESIZE, b"x y"), True),
            await _closed_after(spec.socket_path, frames.encode(frames.RESIZE, b"1"), True),
        ]
        # Half a frame, then gone.
        _, half = await asyncio.open_unix_connection(str(spec.socket_path))
        half.write(frames.encode(frames.CONTROL, b'{"op": "state"}')[:10])
        await half.drain()
        half.close()
        state = await conn.state()
        write_frame(writer, frames.STDIN, b"1\n")
        out, _, code = await collect(reader)
        status = await conn.wait()
        await conn.close()
        assert code == status.code
        return replies, closed, state, out, status.code

    replies, closed, state, out, code = run(box, main)
    for request, reply in zip(BAD_REQUESTS, replies, strict=True):
        assert reply["ok"] is False and reply["error"], (request, reply)
        assert reply["kind"] in ("internal", "invalid", "conflict", "not_found"), (request, reply)
    by_request = dict(zip(BAD_REQUESTS, replies, strict=True))
    assert by_request[b'{"op": "nope"}'] == {
        "ok": False, "error": "unknown request 'nope'", "kind": "invalid"
    }  # fmt: skip
    assert by_request[b'{"op": "start"}']["kind"] == "conflict"
    assert by_request[b'{"op": "state", "id": "missing"}']["error"] == (
        "No such exec instance: missing"
    )
    attach_reply = frames.encode(frames.CONTROL, json.dumps({"ok": True, "tty": False}).encode())
    assert closed == [b"", b"", b"", b"", attach_reply, attach_reply]
    assert state["status"] == "running"
    assert out == b"got-1\n" and code == 3


def test_sigkill_of_one_monitor_leaves_the_other_containers_alone(box: Box) -> None:
    ticker = sh("while true; do echo tick; sleep 0.05; done")

    async def main() -> tuple[list[dict[str, Any]], list[bytes], list[int], list[int]]:
        made = [await box.create(ticker) for _ in range(3)]
        for conn, _ in made:
            await conn.start()
        victim_conn, victim = made[0]
        await victim_conn.close()
        victim_state = read_state(victim.state_dir) or {}
        os.kill(victim_state["shim_pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while is_same_process(victim_state["shim_pid"], victim_state["shim_start_time"]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        sizes = [spec.log_path.stat().st_size for _, spec in made[1:] if spec.log_path]
        await asyncio.sleep(0.5)
        grown = [spec.log_path.stat().st_size for _, spec in made[1:] if spec.log_path]
        states, outputs, codes = [], [], []
        for conn, _ in made[1:]:
            states.append(await conn.state())
            await conn.exec(ExecSpec(id="hi", args=["echo", "still here"]))
            reader, _ = await conn.exec_attach("hi")
            await conn.exec_start("hi")
            outputs.append((await collect(reader))[0])
            await conn.kill(signal.SIGKILL)  # sh as pid 1 ignores SIGTERM
            codes.append((await conn.wait()).code)
            await conn.close()
        return states, outputs, [b - a for a, b in zip(sizes, grown, strict=True)], codes

    states, outputs, growth, codes = run(box, main)
    assert [s["status"] for s in states] == ["running", "running"]
    assert len({s["shim_pid"] for s in states}) == 2  # each its own monitor
    assert outputs == [b"still here\n", b"still here\n"]
    assert all(g > 0 for g in growth)  # their logs kept growing
    assert codes == [137, 137]


def test_spawns_overlap_and_each_reply_reaches_its_own_caller(box: Box) -> None:
    """The fork server forks and reads the next request at once: a shim slow to report (its
    log a FIFO nobody reads yet, so opening it blocks) holds up no other spawn, and a failed
    spawn's error reaches its own caller."""
    fifo = box.root / "slow.fifo"
    os.mkfifo(fifo)

    async def main() -> tuple[bool, int, bool, type[BaseException] | None]:
        assert box.forkserver is not None
        slow = asyncio.ensure_future(box.create(sh("echo slow"), shim={"log_path": fifo}))
        await asyncio.sleep(0.2)
        fast, _ = await box.create(sh("echo fast"))
        slow_pending = not slow.done()
        broken = uuid.uuid4().hex[:12]
        failed: type[BaseException] | None = None
        try:
            await box.forkserver.spawn(ShimSpec(
                id=broken, bundle=box.root / broken / "none", rootfs_mounts=[],
                state_dir=box.root / broken, socket_path=box.root / "run" / "s" / "x.sock",
                cgroup_parent=box.cgroup_parent,
            ))  # fmt: skip
        except ShimError as error:
            failed = type(error)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the slow shim go on
        try:
            conn, _ = await asyncio.wait_for(slow, 20)
            await conn.close()
        finally:
            os.close(reader)
        await fast.start()
        code = (await fast.wait()).code
        await fast.close()
        return slow_pending, code, box.forkserver.process.returncode is None, failed

    slow_pending, code, alive, failed = run(box, main)
    assert slow_pending, "a spawn waited for the one before it"
    assert code == 0
    assert failed is ShimError  # its own error, not a dead fork server
    assert alive


def test_spawns_a_killed_fork_server_held_all_fail(box: Box) -> None:
    """Spawns that overlap all fail when the fork server dies holding them (delivered: not to
    be asked again), each once."""
    fifo = box.root / "slow.fifo"
    os.mkfifo(fifo)

    def shims() -> set[str]:
        """The ids of the shims still running (their title is `ketch-shim -id <id>`)."""
        found = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    words = f.read().replace(b"\0", b" ").split()
            except OSError:
                continue
            if words[:2] == [b"ketch-shim", b"-id"] and len(words) > 2:
                found.add(words[2].decode())
        return found & {spec.id for spec in box.specs}

    async def main() -> tuple[list[BaseException | None], set[str]]:
        assert box.forkserver is not None
        pending = [
            asyncio.ensure_future(box.create(["true"], shim={"log_path": fifo}))
            for _ in range(2)
        ]
        await asyncio.sleep(0.5)
        waiting = shims()
        os.kill(box.forkserver.process.pid, signal.SIGKILL)
        outcomes: list[BaseException | None] = []
        for spawn in pending:
            try:
                await asyncio.wait_for(spawn, 20)
                outcomes.append(None)
            except ForkServerGone as gone:
                outcomes.append(gone)
        # Let the shims go on, so that the box's cleanup finds what they made in their state.
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not all(
                "shim_pid" in (read_state(spec.state_dir) or {}) for spec in box.specs
            ):
                await asyncio.sleep(0.05)
            return outcomes, waiting
        finally:
            os.close(reader)

    outcomes, waiting = run(box, main)
    assert all(isinstance(o, ForkServerGone) and o.delivered for o in outcomes), outcomes
    assert len(waiting) == 2  # both forked, both blocked before their report
    # Their spawns failed: each monitor, finding nobody to report to, undoes its container
    # and exits instead of waiting for a start that will never come.
    deadline = time.monotonic() + 10
    while shims() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not shims()
