"""`ketch export`: a container's filesystem as a tar, to `-o FILE` or stdout."""

from __future__ import annotations

from ketch.cli.app import Cli, Entry
from ketch.cli.flags import STRING, Command, Flag, Parsed
from ketch.cli.output import refuse_terminal, write_binary


def export(cli: Cli, parsed: Parsed) -> int:
    refuse_terminal(parsed.output, "failed to export container")
    response = cli.client.request("GET", f"/containers/{parsed.args[0]}/export")
    cli.flush()
    write_binary(response.chunks(), parsed.output, "failed to export container")
    return 0


ENTRIES = {
    "export": Entry(
        Command(
            "export",
            "export [OPTIONS] CONTAINER",
            "Export a container's filesystem as a tar archive",
            [Flag("output", "output", "o", STRING, "", help="Write to a file, instead of STDOUT")],
            min_args=1,
            max_args=1,
        ),
        export,
    )
}
