"""`ketch`: the command line, with docker's grammar (global options, then a command).

Command modules are imported only when their command runs, so `ketch ps`
does not pay for `run`'s terminal handling or pull's progress bars.
"""

from __future__ import annotations

import sys

import ketch
from ketch.cli import flags
from ketch.cli.app import PROGRAM, Cli, Entry, ExitStatus, daemon_error_text
from ketch.errors import KetchError

TYPE_CHECKING = False  # typing stays off the start-up path; the name is for checkers
if TYPE_CHECKING:
    from typing import NoReturn

# command name -> module defining it (each module has ENTRIES: dict[str, Entry])
COMMAND_MODULES: dict[str, str] = {
    "build": "ketch.cli.build",
    "run": "ketch.cli.run",
    "create": "ketch.cli.run",
    "start": "ketch.cli.lifecycle",
    "stop": "ketch.cli.lifecycle",
    "kill": "ketch.cli.lifecycle",
    "restart": "ketch.cli.lifecycle",
    "rm": "ketch.cli.lifecycle",
    "wait": "ketch.cli.lifecycle",
    "attach": "ketch.cli.attach",
    "ps": "ketch.cli.ps",
    "logs": "ketch.cli.logs",
    "exec": "ketch.cli.exec",
    "inspect": "ketch.cli.inspect",
    "images": "ketch.cli.images",
    "pull": "ketch.cli.pull",
    "push": "ketch.cli.push",
    "rmi": "ketch.cli.images",
    "tag": "ketch.cli.images",
    "version": "ketch.cli.system",
    "info": "ketch.cli.system",
    "login": "ketch.cli.login",
    "logout": "ketch.cli.login",
    "port": "ketch.cli.port",
    "pause": "ketch.cli.pause",
    "unpause": "ketch.cli.pause",
    "rename": "ketch.cli.rename",
    "top": "ketch.cli.top",
    "diff": "ketch.cli.diff",
    "update": "ketch.cli.update",
    "commit": "ketch.cli.commit",
    "export": "ketch.cli.export",
    "cp": "ketch.cli.cp",
    "stats": "ketch.cli.stats",
    "events": "ketch.cli.events",
    "history": "ketch.cli.history",
    "save": "ketch.cli.imagearchive",
    "load": "ketch.cli.imagearchive",
    "import": "ketch.cli.imagearchive",
    "builder": "ketch.cli.groups",
    "container": "ketch.cli.groups",
    "image": "ketch.cli.groups",
    "system": "ketch.cli.groups",
    "container prune": "ketch.cli.prune",
    "image prune": "ketch.cli.prune",
    "builder prune": "ketch.cli.prune",
    "system prune": "ketch.cli.prune",
    "system df": "ketch.cli.df",
    "network": "ketch.cli.network",
    "network connect": "ketch.cli.network",
    "network create": "ketch.cli.network",
    "network disconnect": "ketch.cli.network",
    "network inspect": "ketch.cli.network",
    "network ls": "ketch.cli.network",
    "network prune": "ketch.cli.network",
    "network rm": "ketch.cli.network",
    "volume": "ketch.cli.volume",
    "volume create": "ketch.cli.volume",
    "volume inspect": "ketch.cli.volume",
    "volume ls": "ketch.cli.volume",
    "volume prune": "ketch.cli.volume",
    "volume rm": "ketch.cli.volume",
    "volume update": "ketch.cli.volume",
}

# `ketch --help` as docker's: the common commands in docker's order, the management
# commands, then the rest in alphabetical order. Kept here so help loads no command module.
COMMON_COMMANDS: dict[str, str] = {
    "run": "Create and run a new container from an image",
    "exec": "Execute a command in a running container",
    "ps": "List containers",
    "build": "Build an image from a Dockerfile",
    "pull": "Download an image from a registry",
    "push": "Upload an image to a registry",
    "images": "List images",
    "login": "Authenticate to a registry",
    "logout": "Log out from a registry",
    "version": "Show the ketch version information",
    "info": "Display system-wide information",
}
MANAGEMENT_COMMANDS: dict[str, str] = {
    "builder": "Manage builds",
    "container": "Manage containers",
    "image": "Manage images",
    "network": "Manage networks",
    "system": "Manage ketch",
    "volume": "Manage volumes",
}
OTHER_COMMANDS: dict[str, str] = {
    "attach": "Attach local standard input, output, and error streams to a running container",
    "commit": "Create a new image from a container's changes",
    "cp": "Copy files/folders between a container and the local filesystem",
    "create": "Create a new container",
    "diff": "Inspect changes to files or directories on a container's filesystem",
    "events": "Get real time events from the server",
    "export": "Export a container's filesystem as a tar archive",
    "history": "Show the history of an image",
    "import": "Import the contents from a tarball to create a filesystem image",
    "inspect": "Return low-level information on ketch objects",
    "kill": "Kill one or more running containers",
    "load": "Load an image from a tar archive or STDIN",
    "logs": "Fetch the logs of a container",
    "pause": "Pause all processes within one or more containers",
    "port": "List port mappings or a specific mapping for the container",
    "rename": "Rename a container",
    "restart": "Restart one or more containers",
    "rm": "Remove one or more containers",
    "rmi": "Remove one or more images",
    "save": "Save one or more images to a tar archive (streamed to STDOUT by default)",
    "start": "Start one or more stopped containers",
    "stats": "Display a live stream of container(s) resource usage statistics",
    "stop": "Stop one or more running containers",
    "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    "top": "Display the running processes of a container",
    "unpause": "Unpause all processes within one or more containers",
    "update": "Update configuration of one or more containers",
    "wait": "Block until one or more containers stop, then print their exit codes",
}
SUMMARIES: dict[str, str] = {**COMMON_COMMANDS, **MANAGEMENT_COMMANDS, **OTHER_COMMANDS}

# docker's management commands map onto the same handlers (`ketch container ls`).
MANAGEMENT_ALIASES: dict[tuple[str, str], str] = {
    ("container", "ls"): "ps",
    ("container", "list"): "ps",
    ("container", "ps"): "ps",
    ("container", "prune"): "container prune",
    ("image", "ls"): "images",
    ("image", "list"): "images",
    ("image", "rm"): "rmi",
    ("image", "remove"): "rmi",
    ("image", "prune"): "image prune",
    ("image", "build"): "build",
    ("builder", "build"): "build",
    ("builder", "prune"): "builder prune",
    ("system", "df"): "system df",
    ("system", "prune"): "system prune",
}
for _name in (
    "run create start stop kill restart rm wait attach logs exec port inspect pause unpause "
    "rename top diff update commit export cp stats"
).split():
    MANAGEMENT_ALIASES[("container", _name)] = _name
for _name in "pull push tag inspect history save load import".split():
    MANAGEMENT_ALIASES[("image", _name)] = _name
for _name in "info events".split():
    MANAGEMENT_ALIASES[("system", _name)] = _name
for _name in "connect create disconnect inspect ls prune rm".split():
    MANAGEMENT_ALIASES[("network", _name)] = f"network {_name}"
MANAGEMENT_ALIASES[("network", "list")] = "network ls"
MANAGEMENT_ALIASES[("network", "remove")] = "network rm"
for _name in "create inspect ls prune rm update".split():
    MANAGEMENT_ALIASES[("volume", _name)] = f"volume {_name}"
MANAGEMENT_ALIASES[("volume", "list")] = "volume ls"
MANAGEMENT_ALIASES[("volume", "remove")] = "volume rm"

GLOBAL = flags.Command(
    name="",
    usage="[OPTIONS] COMMAND [ARG...]",
    summary="A self-sufficient runtime for containers",
    interspersed=False,
    flags=[
        flags.Flag("host", "host", "H", flags.LIST, help="Daemon socket to connect to"),
        flags.Flag("debug", "debug", "D", help="Enable debug mode"),
        flags.Flag("version", "version", "v", help="Print version information and quit"),
        flags.Flag("log_level", "log-level", "l", flags.STRING, "info", help="Logging level"),
        flags.Flag("config", "config", None, flags.STRING, help="Location of client config files"),
        flags.Flag("context", "context", "c", flags.STRING, help="Name of the context to use"),
    ],
)


def main(argv: list[str] | None = None) -> NoReturn:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = run_cli(argv)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader gone, or a stream closed
            pass
    # The interpreter's teardown (finalizing every module and object) would add ~7 ms to
    # every command, and nothing here needs it: the output is flushed, every file and
    # connection closed by its own `with`, the terminal restored the same way. (posix's
    # _exit is os._exit, without importing os: ~1 ms of a command that did not need it.)
    import posix

    posix._exit(code)


def run_cli(argv: list[str]) -> int:
    try:
        top = flags.parse(GLOBAL, argv)
    except flags.UsageError as error:
        return _usage_error(error, GLOBAL, "")
    if top.version:
        print(f"Ketch version {ketch.__version__}, build python")
        return 0
    if top.config:
        import os

        os.environ["DOCKER_CONFIG"] = top.config
    if top.help or not top.args:
        sys.stdout.write(_overview())
        return 0
    name, *rest = top.args
    if (name, rest[0] if rest else "") in MANAGEMENT_ALIASES:
        name, rest = MANAGEMENT_ALIASES[(name, rest[0])], rest[1:]
    module_name = COMMAND_MODULES.get(name)
    if module_name is None:
        sys.stderr.write(
            f"{PROGRAM}: unknown command: {PROGRAM} {' '.join(top.args[:1])}\n\n"
            f"Run '{PROGRAM} --help' for more information\n"
        )
        return 1
    __import__(module_name)  # importlib itself would cost an import
    entry: Entry = sys.modules[module_name].ENTRIES[name]
    try:
        parsed = flags.parse(entry.command, rest)
    except flags.UsageError as error:
        return _usage_error(error, entry.command, name)
    if parsed.help:
        sys.stdout.write(entry.command.help_text(PROGRAM))
        return 0
    cli = Cli(host=top.host[-1] if top.host else None, debug=top.debug)
    try:
        return entry.handler(cli, parsed)
    except ExitStatus as status:
        if status.message:
            cli.err(status.message)
        return status.code
    except flags.UsageError as error:
        return _usage_error(error, entry.command, name)
    except KetchError as error:
        cli.err(daemon_error_text(error))
        return 1
    finally:
        cli.flush()


def _usage_error(error: flags.UsageError, command: flags.Command, name: str) -> int:
    full = f"{PROGRAM} {name}".strip()
    prefix = f"{PROGRAM}: " if error.prefixed else ""
    hint = getattr(error, "hint", "Run")
    sys.stderr.write(
        f"{prefix}{error}\n\nUsage:  {PROGRAM} {command.usage}\n\n"
        f"{hint} '{full} --help' for more information\n"
    )
    return error.exit_code


def _overview() -> str:
    def section(title: str, commands: dict[str, str]) -> list[str]:
        return [f"{title}:", *(f"  {name:<12}{summary}" for name, summary in commands.items()), ""]

    lines = [
        f"Usage:  {PROGRAM} [OPTIONS] COMMAND",
        "",
        GLOBAL.summary,
        "",
        *section("Common Commands", COMMON_COMMANDS),
        *section("Management Commands", MANAGEMENT_COMMANDS),
        *section("Commands", OTHER_COMMANDS),
        *GLOBAL.help_text(PROGRAM)
        .split("\n\n", 2)[-1]
        .replace("Options:", "Global Options:")
        .rstrip("\n")
        .split("\n"),
        "",
        f"Run '{PROGRAM} COMMAND --help' for more information on a command.",
        "",
    ]
    return "\n".join(lines)
