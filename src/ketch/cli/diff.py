"""`ketch diff CONTAINER`: the changes of a container's filesystem, "C /etc" per line."""

from __future__ import annotations

from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import Command, Parsed

KINDS = {0: "C", 1: "A", 2: "D"}


def diff(cli: Cli, parsed: Parsed) -> int:
    name = parsed.args[0]
    if not name:
        raise ExitStatus(1, "Container name cannot be empty")
    changes = cli.client.get(f"/containers/{name}/changes") or []
    for change in changes:
        cli.out(f"{KINDS.get(change.get('Kind'), '?')} {change.get('Path', '')}")
    return 0


ENTRIES = {
    "diff": Entry(
        Command(
            "diff",
            "diff CONTAINER",
            "Inspect changes to files or directories on a container's filesystem",
            min_args=1,
            max_args=1,
        ),
        diff,
    )
}
