"""start, stop, kill, restart, rm, wait: one request per named container."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ketch import errors
from ketch.cli.app import Cli, Entry, ExitStatus, daemon_error_text
from ketch.cli.flags import BOOL, INT, STRING, Command, Flag, Parsed
from ketch.cli.session import Streams, run_attached


def for_each(
    cli: Cli, names: list[str], action: Callable[[str], Any], echo: bool = True
) -> list[str]:
    """Apply action to every name, printing each name that worked and each daemon error;
    returns the names that failed (docker carries on past a failure)."""
    failed = []
    for name in names:
        try:
            action(name)
        except errors.KetchError as error:
            cli.err(daemon_error_text(error))
            failed.append(name)
            continue
        if echo:
            cli.out(name)
    return failed


def start(cli: Cli, parsed: Parsed) -> int:
    client = cli.client
    if parsed.attach or parsed.interactive:
        if len(parsed.args) > 1:
            raise ExitStatus(1, "ketch: you cannot start and attach multiple containers at once")
        name = parsed.args[0]
        info = client.get(f"/containers/{name}/json")
        config = info.get("Config") or {}
        container_id = info["Id"]

        def start_it() -> None:
            client.request("POST", f"/containers/{container_id}/start").read()

        return run_attached(
            cli,
            container_id,
            streams=Streams(bool(parsed.interactive and config.get("OpenStdin")), True, True),
            tty=bool(config.get("Tty")),
            wait_condition="next-exit",
            sig_proxy=True,
            start=start_it,
            detach_keys=parsed.detach_keys,
        )
    failed = for_each(
        cli, parsed.args, lambda name: client.request("POST", f"/containers/{name}/start").read()
    )
    if failed:
        raise ExitStatus(1, f"Error: failed to start containers: {', '.join(failed)}")
    return 0


def stop(cli: Cli, parsed: Parsed) -> int:
    params = {"t": parsed.time, "signal": parsed.signal}
    failed = for_each(
        cli,
        parsed.args,
        lambda name: cli.client.request("POST", f"/containers/{name}/stop", params=params).read(),
    )
    return 1 if failed else 0


def restart(cli: Cli, parsed: Parsed) -> int:
    params = {"t": parsed.time, "signal": parsed.signal}
    failed = for_each(
        cli,
        parsed.args,
        lambda name: cli.client.request(
            "POST", f"/containers/{name}/restart", params=params
        ).read(),
    )
    return 1 if failed else 0


def kill(cli: Cli, parsed: Parsed) -> int:
    params = {"signal": parsed.signal}
    failed = for_each(
        cli,
        parsed.args,
        lambda name: cli.client.request("POST", f"/containers/{name}/kill", params=params).read(),
    )
    return 1 if failed else 0


def remove(cli: Cli, parsed: Parsed) -> int:
    params = {"force": parsed.force, "v": parsed.volumes, "link": parsed.link}
    failed = for_each(
        cli,
        parsed.args,
        # As docker: `rm --link /parent/alias` names the link without its leading slash.
        lambda name: cli.client.request(
            "DELETE", f"/containers/{name.strip('/')}", params=params
        ).read(),
    )
    return 1 if failed else 0


def wait(cli: Cli, parsed: Parsed) -> int:
    def wait_one(name: str) -> None:
        result = cli.client.post(f"/containers/{name}/wait") or {}
        cli.out(str(result.get("StatusCode", 0)))

    failed = for_each(cli, parsed.args, wait_one, echo=False)
    return 1 if failed else 0


_TIME = Flag("time", "time", "t", INT, help="Seconds to wait before killing the container")
_SIGNAL = Flag("signal", "signal", "s", STRING, help="Signal to send to the container")

ENTRIES = {
    "start": Entry(
        Command(
            "start",
            "start [OPTIONS] CONTAINER [CONTAINER...]",
            "Start one or more stopped containers",
            [
                Flag(
                    "attach", "attach", "a", BOOL, help="Attach STDOUT/STDERR and forward signals"
                ),
                Flag("interactive", "interactive", "i", BOOL, help="Attach container's STDIN"),
                Flag("detach_keys", "detach-keys", None, STRING),
            ],
            min_args=1,
        ),
        start,
    ),
    "stop": Entry(
        Command(
            "stop",
            "stop [OPTIONS] CONTAINER [CONTAINER...]",
            "Stop one or more running containers",
            [_TIME, _SIGNAL],
            min_args=1,
        ),
        stop,
    ),
    "restart": Entry(
        Command(
            "restart",
            "restart [OPTIONS] CONTAINER [CONTAINER...]",
            "Restart one or more containers",
            [_TIME, _SIGNAL],
            min_args=1,
        ),
        restart,
    ),
    "kill": Entry(
        Command(
            "kill",
            "kill [OPTIONS] CONTAINER [CONTAINER...]",
            "Kill one or more running containers",
            [Flag("signal", "signal", "s", STRING, help="Signal to send to the container")],
            min_args=1,
        ),
        kill,
    ),
    "rm": Entry(
        Command(
            "rm",
            "rm [OPTIONS] CONTAINER [CONTAINER...]",
            "Remove one or more containers",
            [
                Flag("force", "force", "f", BOOL, help="Force the removal of a running container"),
                Flag("volumes", "volumes", "v", BOOL, help="Remove anonymous volumes"),
                Flag("link", "link", "l", BOOL, help="Remove the specified link"),
            ],
            min_args=1,
        ),
        remove,
    ),
    "wait": Entry(
        Command(
            "wait",
            "wait CONTAINER [CONTAINER...]",
            "Block until one or more containers stop, then print their exit codes",
            [],
            min_args=1,
        ),
        wait,
    ),
}
