"""`ketch run` and `ketch create`: the docker CLI's sequence over the Engine API."""

from __future__ import annotations

from ketch import errors
from ketch.cli import netopts
from ketch.cli.app import PROGRAM, Cli, Entry, ExitStatus, daemon_error_text
from ketch.cli.flags import Command, Parsed, UsageError
from ketch.cli.runopts import CONTAINER_FLAGS, RUN_ONLY_FLAGS, create_request

# typing is kept off `run`'s import path (several ms per command); the annotations
# are strings, so the name is needed by checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Docker's exit statuses for `run`: the daemon failed, the command could not
# be invoked, the command was not found.
EXIT_DAEMON_ERROR = 125
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127


def _is_terminal(fd: int) -> bool:
    import os

    try:
        return os.isatty(fd)
    except OSError:
        return False


def start_error_status(message: str) -> int:
    """docker's mapping from a failed start's message to the exit status."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return EXIT_NOT_FOUND
    if "permission denied" in lowered:
        return EXIT_CANNOT_INVOKE
    return EXIT_DAEMON_ERROR


def _fail(command: str, error: BaseException, status: int = EXIT_DAEMON_ERROR) -> ExitStatus:
    return ExitStatus(
        status,
        f"{PROGRAM}: {daemon_error_text(error)}\n\n"
        f"Run '{PROGRAM} {command} --help' for more information",
    )


def pull_image(cli: Cli, image: str, parsed: Parsed) -> None:
    # The pull machinery (reference parsing, progress, credentials) is loaded
    # only when a pull happens: a cached image's run pays nothing for it.
    from ketch.cli.pull import pull_image as pull

    pull(cli, image, platform=parsed.platform, quiet=parsed.quiet, out=cli.stderr)


def create_container(cli: Cli, parsed: Parsed, query: dict[str, Any], body: dict[str, Any]) -> str:
    """POST /containers/create, pulling the image first when it is missing (or --pull always)."""
    image = body["Image"]
    policy = parsed.pull or "missing"
    if policy not in ("always", "missing", "never"):
        raise UsageError(
            f'invalid pull option: \'{policy}\': must be one of "always", "missing" or "never"'
        )
    if policy == "always":
        pull_image(cli, image, parsed)
    try:
        response = cli.client.post("/containers/create", query, body)
    except errors.NotFound as error:
        if "No such image" not in error.message or policy == "never":
            raise
        from ketch.cli import imageref

        familiar = imageref.parse(image).familiar
        cli.err(f"Unable to find image '{familiar}' locally")
        cli.flush()
        pull_image(cli, image, parsed)
        response = cli.client.post("/containers/create", query, body)
    warnings = list(response.get("Warnings") or [])
    localhost_dns = netopts.localhost_dns_warning(body["HostConfig"].get("Dns") or [])
    if localhost_dns:
        warnings.append(localhost_dns)
    for warning in warnings:
        cli.err(f"WARNING: {warning}")
    container_id: str = response["Id"]
    return container_id


def _request_or_exit(command: str, parsed: Parsed, detach: bool) -> tuple[Any, Any]:
    """The create request; a command line docker would refuse ends as docker's does (125)."""
    try:
        return create_request(parsed, detach=detach)
    except UsageError as error:
        raise ExitStatus(
            EXIT_DAEMON_ERROR,
            f"{PROGRAM}: {error}\n\nRun '{PROGRAM} {command} --help' for more information",
        ) from None


def create(cli: Cli, parsed: Parsed) -> int:
    query, body = _request_or_exit("create", parsed, detach=False)
    try:
        cli.out(create_container(cli, parsed, query, body))
    except errors.KetchError as error:
        raise _fail("create", error) from None
    return 0


def run(cli: Cli, parsed: Parsed) -> int:
    detach = bool(parsed.detach)
    query, body = _request_or_exit("run", parsed, detach=detach)
    if body["Tty"] and body["AttachStdin"] and not _is_terminal(0):
        raise ExitStatus(1, "the input device is not a TTY")
    try:
        container_id = create_container(cli, parsed, query, body)
    except errors.KetchError as error:
        raise _fail("run", error) from None

    def start() -> None:
        try:
            cli.client.request("POST", f"/containers/{container_id}/start").read()
        except errors.KetchError as error:
            raise _fail("run", error, start_error_status(error.message)) from None

    if detach:
        start()
        cli.out(container_id)
        return 0
    # The attach machinery (threads, terminal, signals) is imported now, while the daemon
    # is already at the create: a few ms of the CLI's start-up no longer come before it.
    from ketch.cli.session import Streams, run_attached

    streams = Streams(body["AttachStdin"], body["AttachStdout"], body["AttachStderr"])
    try:
        return run_attached(
            cli,
            container_id,
            streams=streams,
            tty=body["Tty"],
            wait_condition="removed" if parsed.rm else "next-exit",
            sig_proxy=parsed.sig_proxy,
            start=start,
            detach_keys=parsed.detach_keys,
        )
    except errors.KetchError as error:
        raise _fail("run", error) from None


ENTRIES = {
    "run": Entry(
        Command(
            "run",
            "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
            "Create and run a new container from an image",
            CONTAINER_FLAGS + RUN_ONLY_FLAGS,
            interspersed=False,
            min_args=1,
        ),
        run,
    ),
    "create": Entry(
        Command(
            "create",
            "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
            "Create a new container",
            CONTAINER_FLAGS,
            interspersed=False,
            min_args=1,
        ),
        create,
    ),
}
