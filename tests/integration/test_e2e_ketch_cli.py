"""The issue's own examples, typed into the ketch CLI as a person would."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ketch.testing.commands import KETCH, ketch
from ketch.testing.terminal import PseudoTerminal

REDIS_PROMPT = b"127.0.0.1:6379> "


@pytest.fixture
def redis_r(env: dict[str, str]) -> Iterator[str]:
    run = ketch(env, "run", "-d", "--name", "r", "redis")
    assert run.returncode == 0, run.stderr.decode()
    try:
        yield "r"
    finally:
        ketch(env, "rm", "-f", "r")


def wait_for_log(env: dict[str, str], name: str, needle: bytes, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while needle not in ketch(env, "logs", name).stdout:
        assert time.monotonic() < deadline, f"{needle!r} never logged by {name}"
        time.sleep(0.05)


def test_run_d_redis_then_exec_it_redis_cli_ping(env: dict[str, str], redis_r: str) -> None:
    wait_for_log(env, redis_r, b"Ready to accept connections")
    term = PseudoTerminal([KETCH, "exec", "-it", redis_r, "redis-cli", "ping"], env=env)
    try:
        run = term.wait()
    finally:
        term.close()
    assert run.exit_code == 0
    assert b"PONG" in run.output


def test_redis_cli_session_through_a_terminal(env: dict[str, str], redis_r: str) -> None:
    wait_for_log(env, redis_r, b"Ready to accept connections")
    term = PseudoTerminal([KETCH, "exec", "-it", redis_r, "redis-cli"], env=env)
    fresh_prompt = b"\x1b[6n" + REDIS_PROMPT  # linenoise asks for the cursor, then prompts

    def answer_then_prompt(line: bytes, answer: bytes, prompts: int) -> None:
        term.type(line)
        term.read_until(answer)
        deadline = time.monotonic() + 20
        while term.output.count(fresh_prompt) < prompts:
            assert time.monotonic() < deadline, bytes(term.output)
            term.read_more(0.1)

    try:
        term.read_until(fresh_prompt)
        answer_then_prompt(b"set greeting hi\r", b"OK\r\n", 2)
        answer_then_prompt(b"get greeting\r", b'"hi"\r\n', 3)
        term.type(b"exit\r")
        run = term.wait()
    finally:
        term.close()
    assert run.exit_code == 0


def test_run_it_redis_stops_on_ctrl_c(env: dict[str, str]) -> None:
    term = PseudoTerminal([KETCH, "run", "-it", "--rm", "redis"], env=env)
    try:
        term.read_until(b"Ready to accept connections")
        term.type(b"\x03")
        run = term.wait()
    finally:
        term.close()
    assert b"Received SIGINT scheduling shutdown" in run.output
    assert run.exit_code == 0


def test_run_it_busybox_sh_is_isolated(env: dict[str, str]) -> None:
    term = PseudoTerminal([KETCH, "run", "-it", "--rm", "busybox", "sh"], env=env)
    try:
        term.read_until(b"# ")
        term.type(b"echo pids=$(ps -o pid= | wc -l) tty=$(tty); exit 4\r")
        run = term.wait()
    finally:
        term.close()
    assert run.exit_code == 4
    # sh, ps, wc and the subshells: nothing of the host's processes
    pids = int(run.output.split(b"pids=")[-1].split()[0])
    assert pids < 8
    assert b"tty=/dev/pts/0" in run.output


def test_run_t_env_shows_term_xterm(env: dict[str, str]) -> None:
    tty = ketch(env, "run", "--rm", "-t", "busybox", "env")
    assert tty.returncode == 0, tty.stderr.decode()
    assert "TERM=xterm" in tty.stdout.decode().splitlines()
    plain = ketch(env, "run", "--rm", "busybox", "env")
    assert plain.returncode == 0, plain.stderr.decode()
    assert not [line for line in plain.stdout.decode().splitlines() if line.startswith("TERM=")]
