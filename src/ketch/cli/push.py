"""`ketch push`: POST /images/{name}/push with docker's progress lines."""

from __future__ import annotations

from ketch.cli import imageref
from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed
from ketch.cli.progress import ProgressDisplay
from ketch.cli.pull import _is_tty
from ketch.client import authconfig

# base64url of "{}": what docker sends when it has no credentials for the registry
EMPTY_AUTH = "e30="


def push(cli: Cli, parsed: Parsed) -> int:
    image = parsed.args[0]
    given = imageref.tag_was_given(image)
    if parsed.all_tags and given:
        raise ExitStatus(1, "tag can't be used with --all-tags/-a")
    target = imageref.parse(image)
    if not given and not parsed.all_tags and not parsed.quiet:
        cli.out("Using default tag: latest")
        cli.flush()
    credentials = authconfig.get(target.domain)
    auth = credentials.registry_auth_header() if credentials is not None else EMPTY_AUTH
    params = {
        "tag": None if parsed.all_tags else target.tag,
        "platform": parsed.platform or None,
    }
    response = cli.client.request(
        "POST",
        f"/images/{target.name}/push",
        params=params,
        headers={"X-Registry-Auth": auth},
    )
    display = ProgressDisplay(cli.stdout, terminal=_is_tty(cli.stdout))
    for message in response.json_messages():
        if parsed.quiet and "error" not in message and "errorDetail" not in message:
            continue
        display.show(message)
    if parsed.quiet:
        cli.out(target.repository if parsed.all_tags else target.full)
    return 0


ENTRIES = {
    "push": Entry(
        Command(
            "push",
            "push [OPTIONS] NAME[:TAG]",
            "Upload an image to a registry",
            [
                Flag(
                    "all_tags",
                    "all-tags",
                    "a",
                    BOOL,
                    help="Push all tags of an image to the repository",
                ),
                Flag("quiet", "quiet", "q", BOOL, help="Suppress verbose output"),
                Flag(
                    "platform",
                    "platform",
                    None,
                    STRING,
                    help="Push a platform-specific manifest as a single-platform image",
                ),
                Flag("disable_content_trust", "disable-content-trust", None, BOOL, True),
            ],
            min_args=1,
            max_args=1,
        ),
        push,
    )
}
