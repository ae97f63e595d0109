"""`ketch` at a terminal and under signals: raw mode, window size, Ctrl-C, sig-proxy."""

from __future__ import annotations

import fcntl
import signal
import struct
import subprocess
import termios
import time
import uuid
from pathlib import Path

from ketch.testing.commands import KETCH, ketch
from ketch.testing.registry import run_registry
from ketch.testing.terminal import PseudoTerminal


def set_window_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def test_run_it_sends_the_window_size_and_ctrl_c_reaches_the_container(
    env: dict[str, str],
) -> None:
    term = PseudoTerminal([KETCH, "run", "--rm", "-it", "busybox", "sh"], env=env)
    try:
        set_window_size(term.master, 33, 101)
        term.read_until(b"# ")
        term.type(b"stty size\r")
        term.read_until(b"33 101")
        set_window_size(term.master, 40, 120)  # SIGWINCH -> POST resize
        time.sleep(0.3)
        term.type(b"stty size\r")
        term.read_until(b"40 120")
        # In raw mode Ctrl-C is a byte for the container's terminal, which
        # interrupts the sleep; the CLI itself stays alive.
        term.type(b"sleep 30\r")
        time.sleep(0.5)
        started = time.monotonic()
        term.type(b"\x03")
        term.type(b"echo after-$((1+1))\r")
        term.read_until(b"after-2")
        assert time.monotonic() - started < 10
        term.type(b"exit 3\r")
        run = term.wait()
    finally:
        term.close()
    assert run.exit_code == 3


def test_exec_it_through_a_terminal(env: dict[str, str]) -> None:
    name = f"cli-exec-{uuid.uuid4().hex[:8]}"
    started = ketch(env, "run", "-d", "--name", name, "busybox", "sleep", "60")
    assert started.returncode == 0, started.stderr.decode()
    try:
        term = PseudoTerminal([KETCH, "exec", "-it", name, "sh"], env=env)
        try:
            set_window_size(term.master, 25, 90)
            term.read_until(b"# ")
            term.type(b"stty size; echo pid1=$(cat /proc/1/comm); exit 9\r")
            run = term.wait()
        finally:
            term.close()
        assert b"pid1=sleep" in run.output
        assert b"25 90" in run.output
        assert run.exit_code == 9
    finally:
        ketch(env, "rm", "-f", name)


def test_signals_are_forwarded_without_a_tty(env: dict[str, str]) -> None:
    script = "trap 'echo got-int; exit 5' INT; echo ready; while true; do sleep 0.1; done"
    process = subprocess.Popen(
        [KETCH, "run", "--rm", "busybox", "sh", "-c", script],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert out == b"got-int\n", err.decode()
    assert process.returncode == 5


def test_create_then_start_attached_and_restart(env: dict[str, str]) -> None:
    name = f"cli-create-{uuid.uuid4().hex[:8]}"
    created = ketch(env, "create", "--name", name, "-e", "WHO=world", "busybox",
                    "sh", "-c", "echo hello $WHO; echo err >&2; exit 2")  # fmt: skip
    assert created.returncode == 0, created.stderr.decode()
    try:
        started = ketch(env, "start", "-a", name)
        assert started.stdout == b"hello world\n"
        assert started.stderr == b"err\n"
        assert started.returncode == 2
        stamped = ketch(env, "logs", "-t", name).stdout.decode().splitlines()
        assert len(stamped) == 1 and stamped[0].endswith("Z hello world")
        assert ketch(env, "restart", name).stdout.decode().strip() == name
        assert ketch(env, "wait", name).stdout == b"2\n"
        # Two runs logged; the last two entries are the second run's.
        everything = ketch(env, "logs", name)
        assert everything.stdout == b"hello world\n" * 2 and everything.stderr == b"err\n" * 2
        tail = ketch(env, "logs", "--tail", "2", name)
        assert tail.stdout == b"hello world\n" and tail.stderr == b"err\n"
        listed = ketch(env, "ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}")
        assert listed.stdout.decode().startswith("Exited (2) ")
    finally:
        ketch(env, "rm", "-f", name)


def test_attach_to_a_running_container(env: dict[str, str]) -> None:
    name = f"cli-attach-{uuid.uuid4().hex[:8]}"
    started = ketch(env, "run", "-d", "-i", "--name", name, "busybox", "sh", "-c",
                    "read line; echo got:$line; exit 6")  # fmt: skip
    assert started.returncode == 0, started.stderr.decode()
    try:
        attached = ketch(env, "attach", name, input=b"typed\n")
        assert attached.stdout == b"got:typed\n"
        assert attached.returncode == 6
    finally:
        ketch(env, "rm", "-f", name)


def test_kill_with_a_signal(env: dict[str, str]) -> None:
    name = f"cli-kill-{uuid.uuid4().hex[:8]}"
    script = "trap 'exit 12' USR1; echo trapped; while true; do sleep 0.1; done"
    started = ketch(env, "run", "-d", "--name", name, "busybox", "sh", "-c", script)
    assert started.returncode == 0, started.stderr.decode()
    try:
        # Signal only once the trap is set: before it, USR1 would kill the shell.
        deadline = time.monotonic() + 20
        while b"trapped" not in ketch(env, "logs", name).stdout:
            assert time.monotonic() < deadline, "the trap was never set"
            time.sleep(0.05)
        assert ketch(env, "kill", "-s", "USR1", name).stdout.decode().strip() == name
        assert ketch(env, "wait", name).stdout == b"12\n"
    finally:
        ketch(env, "rm", "-f", name)


def test_login_and_logout(env: dict[str, str], tmp_path: Path) -> None:
    with run_registry(tmp_path / "auth-registry", auth={"alice": "wonderland"}) as registry:
        server = registry.url.split("://", 1)[1]
        refused = ketch(env, "login", "-u", "alice", "--password-stdin", server,
                        input=b"wrong\n")  # fmt: skip
        assert refused.returncode == 1
        assert refused.stderr.startswith(b"Error response from daemon: ")
        config = Path(env["DOCKER_CONFIG"]) / "config.json"
        assert not config.exists()
        accepted = ketch(env, "login", "-u", "alice", "--password-stdin", server,
                         input=b"wonderland\n")  # fmt: skip
        assert accepted.returncode == 0, accepted.stderr.decode()
        assert accepted.stdout == b"Login Succeeded\n"
        assert oct(config.stat().st_mode & 0o777) == "0o600"
        assert server in config.read_text()
        logout = ketch(env, "logout", server)
        assert logout.stdout.decode() == f"Removing login credentials for {server}\n"
        assert server not in config.read_text()


def test_detach_keys_end_the_session_at_once(env: dict[str, str]) -> None:
    # Whether the container then keeps running is the daemon's part (Docker
    # keeps a TTY container's stdin open when its attach client leaves).
    name = f"cli-detach-{uuid.uuid4().hex[:8]}"
    term = PseudoTerminal([KETCH, "run", "-it", "--name", name, "busybox", "sh"], env=env)
    try:
        term.read_until(b"# ")
        term.type(b"echo still-$((2+3))\r")
        term.read_until(b"still-5")
        started = time.monotonic()
        term.type(b"\x10\x11")  # ctrl-p ctrl-q
        run = term.wait(timeout=20)
        assert run.exit_code == 0
        assert time.monotonic() - started < 5
    finally:
        term.close()
        ketch(env, "rm", "-f", name)
