"""ps, images and pull options of the `ketch` command against a real ketchd."""

from __future__ import annotations

import re
import uuid

from ketch.testing.commands import KETCH, ketch
from ketch.testing.terminal import PseudoTerminal


def test_pull_on_a_terminal_redraws_each_layer(env: dict[str, str]) -> None:
    term = PseudoTerminal([KETCH, "pull", "redis"], env=env)
    try:
        run = term.wait(timeout=60)
    finally:
        term.close()
    output = run.output.decode()
    assert run.exit_code == 0, output
    assert "latest: Pulling from library/redis\r\n" in output
    assert "\x1b[" in output  # layer lines redrawn in place
    assert re.search(r"[0-9a-f]{12}: Pull complete", output)
    assert output.rstrip().endswith("docker.io/library/redis:latest")
    quiet = ketch(env, "pull", "-q", "redis")
    assert quiet.stdout == b"docker.io/library/redis:latest\n"
    missing = ketch(env, "pull", "no-such-repo-here")
    assert missing.returncode == 1
    assert missing.stderr.startswith(b"Error response from daemon: ")


def test_images_digests_and_quiet(env: dict[str, str]) -> None:
    assert ketch(env, "pull", "-q", "hello-world").returncode == 0
    digests = ketch(env, "images", "--digests", "hello-world").stdout.decode().splitlines()
    assert digests[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    row = next(line for line in digests if line.startswith("hello-world "))
    assert re.match(r"hello-world +latest +sha256:[0-9a-f]{64} +[0-9a-f]{12} ", row)
    assert row.split()[-1].endswith("B")
    image_id = row.split()[3]
    full = ketch(env, "images", "--no-trunc", "-q").stdout.decode().split()
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", each) for each in full)
    assert any(each[7:19] == image_id for each in full)
    templated = ketch(env, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert "hello-world:latest" in templated.stdout.decode().splitlines()


def test_ps_last_latest_and_filters(env: dict[str, str]) -> None:
    names = [f"cli-ps-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        for name in names:
            created = ketch(env, "create", "--name", name, "-l", "suite=cli", "busybox", "true")
            assert created.returncode == 0, created.stderr.decode()
        latest = ketch(env, "ps", "-l", "--format", "{{.Names}}").stdout.decode().split()
        assert latest == [names[1]]
        last_two = ketch(env, "ps", "-n", "2", "--format", "{{.Names}}").stdout.decode().split()
        assert last_two == [names[1], names[0]]
        by_status = ketch(env, "ps", "-a", "-f", "status=created", "-f", "label=suite=cli",
                          "--format", "{{.Names}} {{.State}}")  # fmt: skip
        assert sorted(by_status.stdout.decode().splitlines()) == sorted(
            f"{name} created" for name in names
        )
        running = ketch(env, "ps", "-q", "-f", f"name={names[0]}").stdout
        assert running == b""
        table = ketch(env, "ps", "-a", "--format", "table {{.Names}}\t{{.Status}}",
                      "-f", f"name={names[0]}").stdout.decode().splitlines()  # fmt: skip
        assert table[0].startswith("NAMES") and "STATUS" in table[0]
        assert table[1].split()[0] == names[0] and table[1].endswith("Created")
    finally:
        for name in names:
            ketch(env, "rm", "-f", name)


def test_run_tty_output_and_logs_of_a_tty_container(env: dict[str, str]) -> None:
    name = f"cli-tty-{uuid.uuid4().hex[:8]}"
    run = ketch(env, "run", "-t", "--name", name, "busybox", "sh", "-c", "echo one; echo two >&2")
    try:
        assert run.returncode == 0, run.stderr.decode()
        # A TTY merges the streams and turns \n into \r\n, as on Docker.
        assert run.stdout == b"one\r\ntwo\r\n"
        logs = ketch(env, "logs", name)
        assert logs.stdout == b"one\r\ntwo\r\n"
    finally:
        ketch(env, "rm", "-f", name)


def test_run_requires_a_terminal_for_it(env: dict[str, str]) -> None:
    result = ketch(env, "run", "-it", "busybox", "true", input=b"")
    assert result.returncode == 1
    assert result.stderr == b"the input device is not a TTY\n"


def test_logs_since_and_until(env: dict[str, str]) -> None:
    name = f"cli-logs-{uuid.uuid4().hex[:8]}"
    run = ketch(env, "run", "--name", name, "busybox", "sh", "-c", "echo early")
    try:
        assert run.returncode == 0, run.stderr.decode()
        assert ketch(env, "logs", "--since", "1h", name).stdout == b"early\n"
        assert ketch(env, "logs", "--until", "1h", name).stdout == b""
        assert ketch(env, "logs", "--since", "2099-01-01T00:00:00Z", name).stdout == b""
        bad = ketch(env, "logs", "--since", "yesterday-ish", name)
        assert bad.returncode == 125 and b"invalid value" in bad.stderr
    finally:
        ketch(env, "rm", "-f", name)


def test_detached_run_of_a_missing_image_pulls_to_stderr(env: dict[str, str]) -> None:
    ketch(env, "rmi", "-f", "hello-world")
    name = f"cli-pull-{uuid.uuid4().hex[:8]}"
    run = ketch(env, "run", "-d", "--pull", "always", "--platform", "linux/amd64",
                "--name", name, "hello-world")  # fmt: skip
    try:
        assert run.returncode == 0, run.stderr.decode()
        assert re.fullmatch(rb"[0-9a-f]{64}\n", run.stdout)
        assert run.stderr.startswith(b"latest: Pulling from library/hello-world\n")
        assert b"Status: " in run.stderr
        assert ketch(env, "wait", name).stdout == b"0\n"
        assert b"Hello from Ketch!" in ketch(env, "logs", name).stdout
    finally:
        ketch(env, "rm", "-f", name)
