"""`ketch attach`: join a running container's stdio."""

from __future__ import annotations

from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed
from ketch.cli.session import Streams, run_attached


def attach(cli: Cli, parsed: Parsed) -> int:
    info = cli.client.get(f"/containers/{parsed.args[0]}/json")
    state = info.get("State") or {}
    config = info.get("Config") or {}
    if not state.get("Running"):
        raise ExitStatus(1, "You cannot attach to a stopped container, start it first")
    attach_stdin = not parsed.no_stdin and bool(config.get("OpenStdin"))
    return run_attached(
        cli,
        info["Id"],
        streams=Streams(attach_stdin, True, True),
        tty=bool(config.get("Tty")),
        wait_condition="next-exit",
        sig_proxy=parsed.sig_proxy,
        start=lambda: None,
        detach_keys=parsed.detach_keys,
    )


ENTRIES = {
    "attach": Entry(
        Command(
            "attach",
            "attach [OPTIONS] CONTAINER",
            "Attach local standard input, output, and error streams to a running container",
            [
                Flag("no_stdin", "no-stdin", None, BOOL, help="Do not attach STDIN"),
                Flag("sig_proxy", "sig-proxy", None, BOOL, True, help="Proxy all signals"),
                Flag("detach_keys", "detach-keys", None, STRING),
            ],
            min_args=1,
            max_args=1,
        ),
        attach,
    )
}
