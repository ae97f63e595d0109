"""`ketch save`, `ketch load`, `ketch import`: images to and from tar archives."""

from __future__ import annotations

import sys

from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, LIST, STRING, Command, Flag, Parsed
from ketch.cli.output import refuse_terminal, write_binary
from ketch.cli.progress import ProgressDisplay
from ketch.cli.pull import _is_tty
from ketch.cli.terminal import is_terminal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

CHUNK = 1 << 20


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(CHUNK):
        yield chunk


def save(cli: Cli, parsed: Parsed) -> int:
    refuse_terminal(parsed.output, "failed to save image")
    params = {"names": tuple(parsed.args), "platform": parsed.platform or None}
    response = cli.client.request("GET", "/images/get", params=params)
    write_binary(response.chunks(), parsed.output, "failed to save image")
    return 0


def _show_messages(cli: Cli, response: object) -> None:
    display = ProgressDisplay(cli.stdout, terminal=_is_tty(cli.stdout))
    for message in response.json_messages():  # type: ignore[attr-defined]
        display.show(message)


def load(cli: Cli, parsed: Parsed) -> int:
    if parsed.input:
        try:
            source: BinaryIO = open(parsed.input, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            reason = (error.strerror or str(error)).lower()
            raise ExitStatus(1, f"open {parsed.input}: {reason}") from None
    else:
        if is_terminal(0):
            raise ExitStatus(1, "requested load from stdin, but stdin is empty")
        source = sys.stdin.buffer
    quiet = parsed.quiet or not _is_tty(cli.stdout)
    with source:
        response = cli.client.request(
            "POST",
            "/images/load",
            params={"quiet": quiet, "platform": parsed.platform or None},
            headers={"Content-Type": "application/x-tar"},
            data=_chunks(source),
        )
        if response.content_type.startswith("application/json"):
            _show_messages(cli, response)
        else:
            cli.flush()
            write_binary(response.chunks(), "", "")
    return 0


def import_(cli: Cli, parsed: Parsed) -> int:
    source_name, *rest = parsed.args
    params: dict[str, object] = {
        "message": parsed.message or None,
        "changes": tuple(parsed.change) or None,
        "platform": parsed.platform or None,
    }
    if rest:
        from ketch.oci import reference

        ref = reference.parse(rest[0])
        params["repo"] = ref.familiar_name
        params["tag"] = ref.tag or None
    data = None
    source: BinaryIO | None = None
    if source_name == "-":
        source = sys.stdin.buffer
    elif source_name.startswith(("http://", "https://")):
        params["fromSrc"] = source_name
    else:
        try:
            source = open(source_name, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            reason = (error.strerror or str(error)).lower()
            raise ExitStatus(1, f"open {source_name}: {reason}") from None
    if source is not None:
        params["fromSrc"] = "-"
        data = _chunks(source)
    try:
        response = cli.client.request(
            "POST",
            "/images/create",
            params=params,
            data=data,
            headers={"Content-Type": "application/x-tar"} if data is not None else None,
        )
        _show_messages(cli, response)
    finally:
        if source is not None and source is not sys.stdin.buffer:
            source.close()
    return 0


_PLATFORM = Flag(
    "platform", "platform", None, STRING, help="Set platform if server is multi-platform capable"
)

ENTRIES = {
    "save": Entry(
        Command(
            "save",
            "save [OPTIONS] IMAGE [IMAGE...]",
            "Save one or more images to a tar archive (streamed to STDOUT by default)",
            [
                Flag(
                    "output", "output", "o", STRING, "", help="Write to a file, instead of STDOUT"
                ),
                _PLATFORM,
            ],
            min_args=1,
        ),
        save,
    ),
    "load": Entry(
        Command(
            "load",
            "load [OPTIONS]",
            "Load an image from a tar archive or STDIN",
            [
                Flag(
                    "input",
                    "input",
                    "i",
                    STRING,
                    "",
                    help="Read from tar archive file, instead of STDIN",
                ),
                Flag("quiet", "quiet", "q", BOOL, help="Suppress the load output"),
                _PLATFORM,
            ],
            max_args=0,
        ),
        load,
    ),
    "import": Entry(
        Command(
            "import",
            "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
            "Import the contents from a tarball to create a filesystem image",
            [
                Flag(
                    "change",
                    "change",
                    "c",
                    LIST,
                    help="Apply Dockerfile instruction to the created image",
                ),
                Flag(
                    "message", "message", "m", STRING, help="Set commit message for imported image"
                ),
                _PLATFORM,
            ],
            min_args=1,
        ),
        import_,
    ),
}
