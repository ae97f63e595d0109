"""`ketch pause` and `ketch unpause`: one request per container, its name echoed."""

from __future__ import annotations

from ketch.cli.app import Cli, Entry
from ketch.cli.flags import Command, Parsed
from ketch.cli.lifecycle import for_each

TYPE_CHECKING = False  # typing stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable

    Handler = Callable[[Cli, Parsed], int]


def _each(action: str) -> Handler:
    def handler(cli: Cli, parsed: Parsed) -> int:
        failed = for_each(
            cli,
            parsed.args,
            lambda name: cli.client.request("POST", f"/containers/{name}/{action}").read(),
        )
        return 1 if failed else 0

    return handler


ENTRIES = {
    "pause": Entry(
        Command(
            "pause",
            "pause CONTAINER [CONTAINER...]",
            "Pause all processes within one or more containers",
            min_args=1,
        ),
        _each("pause"),
    ),
    "unpause": Entry(
        Command(
            "unpause",
            "unpause CONTAINER [CONTAINER...]",
            "Unpause all processes within one or more containers",
            min_args=1,
        ),
        _each("unpause"),
    ),
}
