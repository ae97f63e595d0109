"""docker's management commands (`ketch container`, `image`, `system`, `builder`): alone they
list their subcommands; an unknown word is docker's unknown-command error."""

from __future__ import annotations

from ketch.cli.app import PROGRAM, Cli, Entry, ExitStatus
from ketch.cli.flags import Command, Parsed

GROUPS: dict[str, tuple[str, dict[str, str]]] = {
    "builder": (
        "Manage builds",
        {
            "build": "Build an image from a Dockerfile",
            "prune": "Remove build cache",
        },
    ),
    "container": (
        "Manage containers",
        {
            "attach": (
                "Attach local standard input, output, and error streams to a running container"
            ),
            "commit": "Create a new image from a container's changes",
            "cp": "Copy files/folders between a container and the local filesystem",
            "create": "Create a new container",
            "diff": "Inspect changes to files or directories on a container's filesystem",
            "exec": "Execute a command in a running container",
            "export": "Export a container's filesystem as a tar archive",
            "inspect": "Display detailed information on one or more containers",
            "kill": "Kill one or more running containers",
            "logs": "Fetch the logs of a container",
            "ls": "List containers",
            "pause": "Pause all processes within one or more containers",
            "port": "List port mappings or a specific mapping for the container",
            "prune": "Remove all stopped containers",
            "rename": "Rename a container",
            "restart": "Restart one or more containers",
            "rm": "Remove one or more containers",
            "run": "Create and run a new container from an image",
            "start": "Start one or more stopped containers",
            "stats": "Display a live stream of container(s) resource usage statistics",
            "stop": "Stop one or more running containers",
            "top": "Display the running processes of a container",
            "unpause": "Unpause all processes within one or more containers",
            "update": "Update configuration of one or more containers",
            "wait": "Block until one or more containers stop, then print their exit codes",
        },
    ),
    "image": (
        "Manage images",
        {
            "build": "Build an image from a Dockerfile",
            "history": "Show the history of an image",
            "import": "Import the contents from a tarball to create a filesystem image",
            "inspect": "Display detailed information on one or more images",
            "load": "Load an image from a tar archive or STDIN",
            "ls": "List images",
            "prune": "Remove unused images",
            "pull": "Download an image from a registry",
            "push": "Upload an image to a registry",
            "rm": "Remove one or more images",
            "save": "Save one or more images to a tar archive (streamed to STDOUT by default)",
            "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        },
    ),
    "system": (
        "Manage ketch",
        {
            "df": "Show ketch disk usage",
            "events": "Get real time events from the server",
            "info": "Display system-wide information",
            "prune": "Remove unused data",
        },
    ),
}


class GroupCommand(Command):
    """A management command alone: lists its subcommands."""

    def __init__(self, name: str, summary: str, subcommands: dict[str, str]) -> None:
        super().__init__(name, f"{name} COMMAND", summary, interspersed=False)
        self.subcommands = subcommands

    def help_text(self, program: str = PROGRAM) -> str:
        lines = [f"Usage:  {program} {self.usage}", "", self.summary, "", "Commands:"]
        lines += [f"  {name:<12}{summary}" for name, summary in self.subcommands.items()]
        lines += [
            "",
            f"Run '{program} {self.name} COMMAND --help' for more information on a command.",
        ]
        return "\n".join(lines) + "\n"


def group_entry(
    name: str, summary: str, subcommands: dict[str, str], error_usage: str = ""
) -> Entry:
    """`ketch <name>` alone lists the subcommands; another word is docker's unknown-command
    error, whose usage line differs between docker's groups (`error_usage`, else the
    name)."""
    command = GroupCommand(name, summary, subcommands)
    shown = error_usage or name

    def handler(cli: Cli, parsed: Parsed) -> int:
        if parsed.args:
            raise ExitStatus(
                1,
                f"{PROGRAM}: unknown command: {PROGRAM} {name} {parsed.args[0]}\n\n"
                f"Usage:  {PROGRAM} {shown}\n\n"
                f"Run '{PROGRAM} {name} --help' for more information",
            )
        cli.stderr.write(command.help_text(PROGRAM))
        return 0

    return Entry(command, handler)


ENTRIES = {name: group_entry(name, summary, subs) for name, (summary, subs) in GROUPS.items()}
