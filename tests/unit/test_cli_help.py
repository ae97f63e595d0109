"""`ketch --help` lists every command with its one-line summary."""

from __future__ import annotations

from ketch.cli import main


def test_every_command_has_a_summary() -> None:
    # subcommands ("network ls") are listed by their group's help, not the top one
    assert set(main.SUMMARIES) == {name for name in main.COMMAND_MODULES if " " not in name}


def test_help_lists_commands_with_summaries(capsys) -> None:
    main.run_cli(["--help"])
    out = capsys.readouterr().out
    assert "  run       Create and run a new container from an image" in out
    assert "  ps        List containers" in out
