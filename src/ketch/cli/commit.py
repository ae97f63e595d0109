"""`ketch commit`: a new image from a container's changes; prints the image's id."""

from __future__ import annotations

from ketch.cli.app import Cli, Entry
from ketch.cli.flags import BOOL, LIST, STRING, Command, Flag, Parsed
from ketch.oci import reference


def commit(cli: Cli, parsed: Parsed) -> int:
    container, *rest = parsed.args
    params: dict[str, object] = {
        "container": container,
        "comment": parsed.message or None,
        "author": parsed.author or None,
        "pause": parsed.pause,
        "changes": tuple(parsed.change) or None,
    }
    if rest:
        ref = reference.parse(rest[0])
        params["repo"] = ref.familiar_name
        params["tag"] = ref.tag or None
    answer = cli.client.post("/commit", params) or {}
    cli.out(answer.get("Id", ""))
    return 0


ENTRIES = {
    "commit": Entry(
        Command(
            "commit",
            "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
            "Create a new image from a container's changes",
            [
                Flag(
                    "author",
                    "author",
                    "a",
                    STRING,
                    help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
                ),
                Flag(
                    "change",
                    "change",
                    "c",
                    LIST,
                    help="Apply Dockerfile instruction to the created image",
                ),
                Flag("message", "message", "m", STRING, help="Commit message"),
                Flag(
                    "pause",
                    "pause",
                    "p",
                    BOOL,
                    True,
                    help="Pause container during commit (default true)",
                ),
            ],
            min_args=1,
            max_args=2,
        ),
        commit,
    )
}
