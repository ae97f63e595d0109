"""`ketch history IMAGE`: the image's layers, newest first, as docker's history table."""

from __future__ import annotations

import time

from ketch.cli import units
from ketch.cli.app import Cli, Entry
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed
from ketch.cli.listing import render_rows
from ketch.cli.tables import ellipsis, short_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
NON_HUMAN_FORMAT = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}
EPOCH_2000 = 946684800  # docker shows "N/A" for times before it


def history_row(item: dict[str, Any], human: bool, truncate: bool) -> dict[str, Any]:
    created = item.get("Created", 0)
    created_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(created)) + _zone(created)
    if not human:
        since = created_at
    elif created <= EPOCH_2000:
        since = "N/A"
    else:
        since = units.ago(created)
    created_by = (item.get("CreatedBy") or "").replace("\t", " ")
    size = item.get("Size", 0)
    image_id = item.get("Id", "")
    return {
        "ID": short_id(image_id) if truncate and image_id != "<missing>" else image_id,
        "CreatedSince": since,
        "CreatedAt": created_at,
        "CreatedBy": ellipsis(created_by, 45) if truncate else created_by,
        "Size": units.human_size(size) if human else str(size),
        "Comment": item.get("Comment", ""),
    }


def _zone(moment: int) -> str:
    """RFC 3339's zone: "Z" for UTC, else +hh:mm, as Go's time.RFC3339 writes it."""
    offset = time.localtime(moment).tm_gmtoff
    if offset == 0:
        return "Z"
    sign = "+" if offset > 0 else "-"
    offset = abs(offset)
    return f"{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"


def history(cli: Cli, parsed: Parsed) -> int:
    params = {"platform": parsed.platform} if parsed.platform else None
    items = cli.client.get(f"/images/{parsed.args[0]}/history", params) or []
    truncate = not parsed.no_trunc
    template = parsed.format or "table"
    if template == "table":
        if parsed.quiet:
            template = "{{.ID}}"
        else:
            template = DEFAULT_FORMAT if parsed.human else NON_HUMAN_FORMAT
    rows = [history_row(item, parsed.human, truncate) for item in items]
    cli.stdout.write(render_rows(template, rows, HEADERS))
    return 0


ENTRIES = {
    "history": Entry(
        Command(
            "history",
            "history [OPTIONS] IMAGE",
            "Show the history of an image",
            [
                Flag("format", "format", None, STRING, help="Format output using a Go template"),
                Flag(
                    "human",
                    "human",
                    "H",
                    BOOL,
                    True,
                    help="Print sizes and dates in human readable format (default true)",
                ),
                Flag("no_trunc", "no-trunc", None, BOOL, help="Don't truncate output"),
                Flag("quiet", "quiet", "q", BOOL, help="Only show image IDs"),
                Flag(
                    "platform", "platform", None, STRING, help="Show history for the given platform"
                ),
            ],
            min_args=1,
            max_args=1,
        ),
        history,
    )
}
