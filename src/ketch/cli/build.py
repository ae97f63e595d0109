"""`ketch build`: docker's legacy builder client — the context sent as a tar to
`POST /build`, the daemon's messages printed as docker prints them."""

from __future__ import annotations

import os
import sys

from ketch.cli import netopts, units
from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, INT, LIST, STRING, Command, Flag, Parsed, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any, TextIO

# units.ParseUlimit's names
ULIMITS = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
           "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}  # fmt: skip


def check_tag(value: str) -> str:
    """validateTag: a name the daemon can tag with."""
    from ketch.errors import KetchError
    from ketch.oci import reference

    try:
        reference.parse(value)
    except KetchError as error:
        raise ValueError(error.message) from None
    return value


def check_ulimit(value: str) -> str:
    parse_ulimit(value)
    return value


def parse_ulimit(value: str) -> dict[str, Any]:
    """units.ParseUlimit: `name=soft[:hard]` -> {"Name", "Hard", "Soft"}."""
    name, sep, limits = value.partition("=")
    if not sep:
        raise ValueError(f"invalid ulimit argument: {value}")
    if name not in ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    soft_text, has_hard, hard_text = limits.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if has_hard else soft
    except ValueError:
        raise ValueError(f"invalid ulimit argument: {value}") from None
    if soft > hard:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: "
                         f"{soft} > {hard}")  # fmt: skip
    return {"Name": name, "Hard": hard, "Soft": soft}


def memory_bytes(text: str, flag: str) -> int:
    try:
        return units.ram_in_bytes(text)
    except ValueError as error:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: {error}') from None


def build_args(items: list[str], environ: Mapping[str, str]) -> dict[str, str | None]:
    """--build-arg KEY=VAL, or KEY: its value from the environment, else null (so the
    daemon can still warn that it was not used)."""
    found: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep:
            found[key] = value
        else:
            found[key] = environ.get(key)
    return found


def build_labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def build_query(parsed: Parsed, dockerfile: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """The query of POST /build as the docker CLI writes it (imageBuildOptionsToQuery):
    defaults are left out, JSON values compact."""
    ulimits: dict[str, dict[str, Any]] = {}
    for item in parsed.ulimit:
        limit = parse_ulimit(item)
        ulimits[limit["Name"]] = limit
    cache_from = [part for item in parsed.cache_from for part in item.split(",") if part]
    query: dict[str, Any] = {
        "t": tuple(parsed.tag) or None,
        "extrahosts": tuple(parsed.add_host) or None,
        "q": True if parsed.quiet else None,
        "nocache": True if parsed.no_cache else None,
        "rm": False if not parsed.rm else None,
        "forcerm": True if parsed.force_rm else None,
        "pull": True if parsed.pull else None,
        "cpusetcpus": parsed.cpuset_cpus or None,
        "networkmode": parsed.network if parsed.network not in ("", "default") else None,
        "cpusetmems": parsed.cpuset_mems or None,
        "cpushares": parsed.cpu_shares or None,
        "cpuquota": parsed.cpu_quota or None,
        "cpuperiod": parsed.cpu_period or None,
        "memory": memory_bytes(parsed.memory, "-m, --memory") if parsed.memory else None,
        "memswap": None,
        "shmsize": memory_bytes(parsed.shm_size, "--shm-size") if parsed.shm_size else None,
        "dockerfile": dockerfile or None,
        "target": parsed.target or None,
        "ulimits": list(ulimits.values()) or None,
        "buildargs": build_args(parsed.build_arg, environ) or None,
        "labels": build_labels(parsed.label) or None,
        "cachefrom": cache_from or None,
        "platform": (parsed.platform or environ.get("DOCKER_DEFAULT_PLATFORM", "")).lower()
        or None,
        "version": "1",
    }
    if parsed.memory_swap:
        query["memswap"] = (-1 if parsed.memory_swap == "-1"
                            else memory_bytes(parsed.memory_swap, "--memory-swap"))  # fmt: skip
    return {name: value for name, value in query.items() if value is not None}


def registry_config() -> str:
    """X-Registry-Config: every credential of the config file, base64url, as docker sends
    them for the base images' pulls."""
    import base64
    import json

    from ketch.client import authconfig

    auths = {}
    for server, entry in (authconfig.load().get("auths") or {}).items():
        if not isinstance(entry, dict) or not entry.get("auth"):
            continue
        username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        auths[server] = {"username": username, "password": password, "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(auths).encode()).decode()


class Display:
    """jsonmessage.DisplayJSONMessagesStream for a build: `stream` texts verbatim,
    pull progress as `docker pull` shows it, the image ID from `aux`."""

    def __init__(self, out: TextIO, terminal: bool) -> None:
        from ketch.cli.progress import ProgressDisplay

        self.out = out
        self.progress = ProgressDisplay(out, terminal)
        self.image_id = ""

    def show(self, message: dict[str, Any]) -> None:
        detail = message.get("errorDetail")
        if isinstance(detail, dict):
            text = detail.get("message") or message.get("error") or ""
            if detail.get("code") == 401:
                text = "authentication is required"
            raise ExitStatus(detail.get("code") or 1, text)
        aux = message.get("aux")
        if aux is not None:
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                self.image_id = aux["ID"]
            return
        if message.get("stream"):
            self.out.write(message["stream"])
            self.out.flush()
            return
        self.progress.show(message)


def human_size(size: float) -> str:
    """go-units HumanSize: decimal units, 4 significant digits ("2.048kB")."""
    names = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB")
    index = 0
    while size >= 1000 and index < len(names) - 1:
        size /= 1000
        index += 1
    return f"{size:.4g}{names[index]}"


class Counted:
    """The context's chunks, counted for docker's "Sending build context" line."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.sent += len(chunk)
            yield chunk


def build(cli: Cli, parsed: Parsed) -> int:
    from ketch.cli import buildcontext
    from ketch.cli.pull import _is_tty

    source = parsed.args[0]
    dockerfile = parsed.file or ""
    if dockerfile == "-" and source == "-":
        raise ExitStatus(1, "invalid argument: can't use stdin for both build context and "
                            "dockerfile")  # fmt: skip
    if parsed.iidfile:
        try:
            os.unlink(parsed.iidfile)
        except FileNotFoundError:
            pass
    stdin = sys.stdin.buffer
    try:
        if source == "-":
            context = buildcontext.from_stdin(stdin, dockerfile)
        elif os.path.exists(source):
            context = buildcontext.from_directory(source, dockerfile, stdin)
        elif buildcontext.is_remote(source):
            raise ExitStatus(1, f"unable to prepare context: remote build contexts are not "
                                f"supported by ketch: {source}")  # fmt: skip
        else:
            raise ExitStatus(1, f'unable to prepare context: path "{source}" not found')
    except buildcontext.ContextError as error:
        raise ExitStatus(1, str(error)) from None
    query = build_query(parsed, context.dockerfile, os.environ)
    headers = {"Content-Type": "application/x-tar", "X-Registry-Config": registry_config()}
    body = Counted(context.chunks)
    import io

    # -q holds everything back: printed only if the build fails
    held_progress, held_output = io.StringIO(), io.StringIO()
    progress: TextIO = held_progress if parsed.quiet else cli.stdout
    output: TextIO = held_output if parsed.quiet else cli.stdout
    try:
        response = cli.client.request("POST", "/build", params=query, headers=headers,
                                      data=body)  # fmt: skip
    except BaseException:
        if parsed.quiet:
            cli.stderr.write(held_progress.getvalue())
        raise
    # the upload's progress, its last update only, as docker prints it when not on a tty
    progress.write(f"Sending build context to Docker daemon {human_size(body.sent):>8}\r\r\n")
    progress.flush()
    display = Display(output, terminal=not parsed.quiet and _is_tty(cli.stdout))
    try:
        for message in response.json_messages():
            display.show(message)
    except ExitStatus:
        if parsed.quiet:
            cli.stderr.write(held_progress.getvalue() + held_output.getvalue())
        raise
    image_id = display.image_id
    if parsed.quiet:
        image_id = held_output.getvalue()
        cli.stdout.write(image_id)
    if parsed.iidfile:
        if not image_id:
            raise ExitStatus(1, "Server did not provide an image ID. Cannot write "
                                f"{parsed.iidfile}")  # fmt: skip
        with open(parsed.iidfile, "w") as handle:
            handle.write(image_id)
    return 0


ENTRIES = {
    "build": Entry(
        Command(
            "build",
            "build [OPTIONS] PATH | URL | -",
            "Build an image from a Dockerfile",
            [
                Flag("add_host", "add-host", None, LIST, check=netopts.check_extra_host,
                     help='Add a custom host-to-IP mapping ("host:ip")'),
                Flag("build_arg", "build-arg", None, LIST, help="Set build-time variables"),
                Flag("cache_from", "cache-from", None, LIST,
                     help="Images to consider as cache sources", metavar="strings"),
                Flag("cpu_period", "cpu-period", None, INT, 0,
                     help="Limit the CPU CFS (Completely Fair Scheduler) period"),
                Flag("cpu_quota", "cpu-quota", None, INT, 0,
                     help="Limit the CPU CFS (Completely Fair Scheduler) quota"),
                Flag("cpu_shares", "cpu-shares", "c", INT, 0,
                     help="CPU shares (relative weight)"),
                Flag("cpuset_cpus", "cpuset-cpus", None, STRING,
                     help="CPUs in which to allow execution (0-3, 0,1)"),
                Flag("cpuset_mems", "cpuset-mems", None, STRING,
                     help="MEMs in which to allow execution (0-3, 0,1)"),
                Flag("disable_content_trust", "disable-content-trust", None, BOOL, True,
                     help="Skip image verification"),
                Flag("file", "file", "f", STRING,
                     help='Name of the Dockerfile (Default is "PATH/Dockerfile")'),
                Flag("force_rm", "force-rm", None, BOOL,
                     help="Always remove intermediate containers"),
                Flag("iidfile", "iidfile", None, STRING, help="Write the image ID to the file"),
                Flag("label", "label", None, LIST, help="Set metadata for an image"),
                Flag("memory", "memory", "m", STRING, help="Memory limit", metavar="bytes"),
                Flag("memory_swap", "memory-swap", None, STRING, metavar="bytes",
                     help="Swap limit equal to memory plus swap: -1 to enable unlimited swap"),
                Flag("network", "network", None, STRING, "default",
                     help="Set the networking mode for the RUN instructions during build"),
                Flag("no_cache", "no-cache", None, BOOL,
                     help="Do not use cache when building the image"),
                Flag("platform", "platform", None, STRING,
                     help="Set platform if server is multi-platform capable"),
                Flag("pull", "pull", None, BOOL,
                     help="Always attempt to pull a newer version of the image"),
                Flag("quiet", "quiet", "q", BOOL,
                     help="Suppress the build output and print image ID on success"),
                Flag("rm", "rm", None, BOOL, True,
                     help="Remove intermediate containers after a successful build"),
                Flag("shm_size", "shm-size", None, STRING, help='Size of "/dev/shm"',
                     metavar="bytes"),
                Flag("tag", "tag", "t", LIST, check=check_tag,
                     help='Name and optionally a tag in the "name:tag" format'),
                Flag("target", "target", None, STRING,
                     help="Set the target build stage to build."),
                Flag("ulimit", "ulimit", None, LIST, check=check_ulimit, help="Ulimit options",
                     metavar="ulimit"),
            ],  # fmt: skip
            min_args=1,
            max_args=1,
        ),
        build,
    )
}
