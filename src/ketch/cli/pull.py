"""`ketch pull`, and the pull that `run`/`create` do for a missing image."""

from __future__ import annotations

from typing import TextIO

from ketch.cli import imageref
from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed
from ketch.cli.progress import ProgressDisplay
from ketch.cli.terminal import is_terminal
from ketch.client import authconfig


def pull_image(
    cli: Cli,
    image: str,
    *,
    platform: str | None,
    quiet: bool,
    out: TextIO,
    all_tags: bool = False,
) -> imageref.PullTarget:
    """POST /images/create with docker's progress lines on `out`; `all_tags` leaves the
    tag out, which asks the daemon for every tag of the repository."""
    target = imageref.parse(image)
    headers = {}
    credentials = authconfig.get(target.domain)
    if credentials is not None:
        headers["X-Registry-Auth"] = credentials.registry_auth_header()
    params = {
        "fromImage": target.name,
        "tag": None if all_tags else target.tag,
        "platform": platform or None,
    }
    response = cli.client.request("POST", "/images/create", params=params, headers=headers)
    display = ProgressDisplay(out, terminal=_is_tty(out))
    for message in response.json_messages():
        if quiet:
            if "error" in message or "errorDetail" in message:
                display.show(message)
            continue
        display.show(message)
    return target


def _is_tty(out: TextIO) -> bool:
    try:
        return is_terminal(out.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def pull(cli: Cli, parsed: Parsed) -> int:
    image = parsed.args[0]
    if parsed.all_tags and imageref.tag_was_given(image):
        raise ExitStatus(1, "tag can't be used with --all-tags/-a")
    if not imageref.tag_was_given(image) and not parsed.all_tags and not parsed.quiet:
        cli.out("Using default tag: latest")
    cli.flush()
    target = pull_image(
        cli,
        image,
        platform=parsed.platform,
        quiet=parsed.quiet,
        out=cli.stdout,
        all_tags=parsed.all_tags,
    )
    cli.out(target.repository if parsed.all_tags else target.full)
    return 0


ENTRIES = {
    "pull": Entry(
        Command(
            "pull",
            "pull [OPTIONS] NAME[:TAG|@DIGEST]",
            "Download an image from a registry",
            [
                Flag("all_tags", "all-tags", "a", BOOL, help="Download all tagged images"),
                Flag("quiet", "quiet", "q", BOOL, help="Suppress verbose output"),
                Flag("platform", "platform", None, STRING, help="Set platform"),
                Flag("disable_content_trust", "disable-content-trust", None, BOOL, True),
            ],
            min_args=1,
            max_args=1,
        ),
        pull,
    )
}
