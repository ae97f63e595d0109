"""`ketch rename CONTAINER NEW_NAME`."""

from __future__ import annotations

from ketch import errors
from ketch.cli.app import Cli, Entry, ExitStatus, daemon_error_text
from ketch.cli.flags import Command, Parsed


def rename(cli: Cli, parsed: Parsed) -> int:
    old, new = (name.strip() for name in parsed.args)
    if not old or not new:
        raise ExitStatus(1, "Error: Neither old nor new names may be empty")
    try:
        cli.client.request("POST", f"/containers/{old}/rename", params={"name": new}).read()
    except errors.KetchError as error:
        # docker prints the daemon's words, then its own line about the rename
        cli.err(daemon_error_text(error))
        raise ExitStatus(1, f"Error: failed to rename container named {old}") from None
    return 0


ENTRIES = {
    "rename": Entry(
        Command(
            "rename",
            "rename CONTAINER NEW_NAME",
            "Rename a container",
            min_args=2,
            max_args=2,
        ),
        rename,
    )
}
