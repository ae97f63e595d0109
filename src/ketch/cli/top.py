"""`ketch top CONTAINER [ps OPTIONS]`: the daemon's process table, as docker lays it out."""

from __future__ import annotations

from ketch.cli.app import Cli, Entry
from ketch.cli.flags import Command, Parsed
from ketch.cli.tables import render_table

# docker's top writer: tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
TOP_MIN_WIDTH = 20


def top(cli: Cli, parsed: Parsed) -> int:
    name, *ps_args = parsed.args
    params = {"ps_args": " ".join(ps_args)} if ps_args else None
    found = cli.client.get(f"/containers/{name}/top", params) or {}
    rows = [list(found.get("Titles") or []), *(list(p) for p in found.get("Processes") or [])]
    cli.stdout.write(render_table(rows, min_width=TOP_MIN_WIDTH))
    return 0


ENTRIES = {
    "top": Entry(
        Command(
            "top",
            "top CONTAINER [ps OPTIONS]",
            "Display the running processes of a container",
            interspersed=False,
            min_args=1,
        ),
        top,
    )
}
