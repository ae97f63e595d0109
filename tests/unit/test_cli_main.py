"""The top-level command line: docker's messages and exit statuses before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.cli.main import run_cli


def test_unknown_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--foo", "busybox"]) == 125
    assert capsys.readouterr().err == (
        "unknown flag: --foo\n\nUsage:  ketch run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Run 'ketch run --help' for more information\n"
    )


def test_missing_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["rm"]) == 1
    assert capsys.readouterr().err.startswith("ketch: 'ketch rm' requires at least 1 argument\n")


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["frobnicate"]) == 1
    assert "ketch: unknown command: ketch frobnicate" in capsys.readouterr().err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out.startswith("Ketch version ")


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["ps", "--help"]) == 0
    assert "Usage:  ketch ps [OPTIONS]" in capsys.readouterr().out


def test_host_flag_and_unreachable_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"unix://{tmp_path}/none.sock"
    assert run_cli(["-H", url, "ps"]) == 1
    assert capsys.readouterr().err == (
        f"Cannot connect to the ketch daemon at {url}. Is the ketch daemon running?\n"
    )
    assert run_cli(["-H", url, "run", "busybox"]) == 125
    assert capsys.readouterr().err.startswith(f"ketch: Cannot connect to the ketch daemon at {url}")


def test_management_command_aliases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"unix://{tmp_path}/none.sock"
    assert run_cli(["-H", url, "container", "ls"]) == 1
    assert "Cannot connect" in capsys.readouterr().err


def test_conflicting_run_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "-d", "-a", "stdout", "busybox"]) == 125
    assert "cannot specify both --attach and --detach" in capsys.readouterr().err


def test_only_unix_sockets(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["-H", "tcp://127.0.0.1:2375", "ps"]) == 1
    assert "unix:// sockets only" in capsys.readouterr().err


def test_help_lists_options_aligned(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    attach = next(line for line in lines if "--attach" in line)
    detach = next(line for line in lines if "--detach " in line)
    assert attach.startswith("  -a, --attach list ")
    assert attach.index("Attach") == detach.index("Run container")
