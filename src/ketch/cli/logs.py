"""`ketch logs`: GET /containers/{id}/logs, demultiplexed unless the container has a TTY."""

from __future__ import annotations

from ketch.cli import units
from ketch.cli.app import Cli, Entry
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed, UsageError
from ketch.cli.stdio import write_all
from ketch.client.streams import STDERR, FrameDemuxer

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


def logs(cli: Cli, parsed: Parsed) -> int:
    name = parsed.args[0]
    info = cli.client.get(f"/containers/{name}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    params = {
        "stdout": True,
        "stderr": True,
        "follow": parsed.follow or None,
        "timestamps": parsed.timestamps or None,
        "details": parsed.details or None,
        "tail": parsed.tail or "all",
    }
    try:
        if parsed.since:
            params["since"] = units.api_time(parsed.since)
        if parsed.until:
            params["until"] = units.api_time(parsed.until)
    except ValueError as error:
        raise UsageError(str(error)) from None
    response = cli.client.request("GET", f"/containers/{info['Id']}/logs", params=params)
    # The header says which framing is used; without one, the container's Tty decides.
    if MULTIPLEXED_STREAM in response.content_type:
        tty = False
    elif RAW_STREAM in response.content_type:
        tty = True
    cli.flush()
    demuxer = None if tty else FrameDemuxer()
    for chunk in response.chunks():
        if demuxer is None:
            write_all(1, chunk)
            continue
        for stream, payload in demuxer.feed(chunk):
            write_all(2 if stream == STDERR else 1, payload)
    return 0


ENTRIES = {
    "logs": Entry(
        Command(
            "logs",
            "logs [OPTIONS] CONTAINER",
            "Fetch the logs of a container",
            [
                Flag("details", "details", None, BOOL, help="Show extra details"),
                Flag("follow", "follow", "f", BOOL, help="Follow log output"),
                Flag("since", "since", None, STRING, help="Show logs since timestamp or relative"),
                Flag("tail", "tail", "n", STRING, "all", help="Number of lines from the end"),
                Flag("timestamps", "timestamps", "t", BOOL, help="Show timestamps"),
                Flag("until", "until", None, STRING, help="Show logs before a timestamp"),
            ],
            min_args=1,
            max_args=1,
        ),
        logs,
    )
}
