"""`ketch --help` lists every command with its one-line summary, grouped as docker's is."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from ketch.cli import main


def test_every_command_has_a_summary() -> None:
    # subcommands ("network ls") are listed by their group's help, not the top one
    assert set(main.SUMMARIES) == {name for name in main.COMMAND_MODULES if " " not in name}


def test_help_lists_commands_with_summaries(capsys: pytest.CaptureFixture[str]) -> None:
    main.run_cli(["--help"])
    out = capsys.readouterr().out
    assert "  run         Create and run a new container from an image" in out
    assert "  ps          List containers" in out
    sections = [line for line in out.splitlines() if line.endswith(":") and not line[0].isspace()]
    assert sections == ["Common Commands:", "Management Commands:", "Commands:", "Global Options:"]


def _sections(text: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if line.endswith("Commands:"):
            current = found.setdefault(line[:-1], {})
        elif current is not None and line.startswith("  ") and not line.startswith("   "):
            name, _, summary = line.strip().partition(" ")
            current[name] = summary.strip()
        elif not line.strip():
            current = None
    return found


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_help_groups_commands_as_docker_does(capsys: pytest.CaptureFixture[str]) -> None:
    theirs = _sections(subprocess.run(["docker", "--help"], capture_output=True, text=True,
                                      timeout=30).stdout)  # fmt: skip
    main.run_cli(["--help"])
    ours = _sections(capsys.readouterr().out)
    assert set(ours) == {"Common Commands", "Management Commands", "Commands"}
    for section, commands in ours.items():
        for name, summary in commands.items():
            assert name in theirs[section], (section, name)
            expected = theirs[section][name].replace("Docker ", "ketch ")
            assert summary == re.sub(r"Docker$", "ketch", expected), name
    # every plain docker command the daemon serves is there (swarm, plugins, trust are not)
    assert set(theirs["Commands"]) == set(ours["Commands"])
    # docker's order within each section
    for section in ours:
        assert list(ours[section]) == [n for n in theirs[section] if n in ours[section]]
