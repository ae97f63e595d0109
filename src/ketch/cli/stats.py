"""`ketch stats`: containers' resource usage, redrawn every half second as docker does, or
once with `--no-stream`."""

from __future__ import annotations

import threading
import time

from ketch import errors
from ketch.cli import units
from ketch.cli.app import Cli, Entry, ExitStatus, daemon_error_text
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed
from ketch.cli.listing import render_rows
from ketch.cli.tables import short_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
HEADERS = {
    "Container": "CONTAINER",
    "Name": "NAME",
    "ID": "CONTAINER ID",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
REDRAW_SECONDS = 0.5
STATS_TIMEOUT = 2.0  # docker shows "--" for a container whose stats take longer


def binary_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits ("132KiB", "23.54GiB")."""
    names = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    index = 0
    while size >= 1024 and index < len(names) - 1:
        size /= 1024
        index += 1
    return f"{size:.4g}{names[index]}"


def usage(sample: dict[str, Any]) -> dict[str, Any]:
    """The numbers docker's stats helpers compute from one StatsResponse."""
    cpu = sample.get("cpu_stats") or {}
    pre = sample.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage") or 0) - (
        (pre.get("cpu_usage") or {}).get("total_usage") or 0
    )
    system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    cpu_percent = 0.0
    if system_delta > 0 and cpu_delta > 0:
        cpu_percent = cpu_delta / system_delta * online * 100.0
    memory = sample.get("memory_stats") or {}
    used = memory.get("usage") or 0
    details = memory.get("stats") or {}
    if "total_inactive_file" in details and details["total_inactive_file"] < used:
        used -= details["total_inactive_file"]
    elif details.get("inactive_file", 0) < used:
        used -= details.get("inactive_file", 0)
    limit = memory.get("limit") or 0
    read = write = 0
    for entry in (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = (entry.get("op") or " ")[0].lower()
        if op == "r":
            read += entry.get("value", 0)
        elif op == "w":
            write += entry.get("value", 0)
    networks = (sample.get("networks") or {}).values()
    return {
        "name": sample.get("name", ""),
        "id": sample.get("id", ""),
        "cpu": cpu_percent,
        "memory": float(used),
        "limit": float(limit),
        "memory_percent": used / limit * 100.0 if limit else 0.0,
        "rx": float(sum(n.get("rx_bytes", 0) for n in networks)),
        "tx": float(sum(n.get("tx_bytes", 0) for n in networks)),
        "read": float(read),
        "write": float(write),
        "pids": (sample.get("pids_stats") or {}).get("current") or 0,
    }


def stats_row(container: str, numbers: dict[str, Any] | None, truncate: bool) -> dict[str, str]:
    """docker's statsContext fields; "--" for a container with no (valid) numbers."""
    numbers = numbers or {}
    name = numbers.get("name", "")
    identifier = numbers.get("id", "")
    row = {
        "Container": container,
        "Name": name[1:] if len(name) > 1 else "--",
        "ID": short_id(identifier) if truncate else identifier,
    }
    if not numbers.get("valid"):
        row.update(
            CPUPerc="--", MemUsage="-- / --", MemPerc="--", NetIO="--", BlockIO="--", PIDs="--"
        )
        return row
    row.update(
        CPUPerc=f"{numbers['cpu']:.2f}%",
        MemUsage=f"{binary_size(numbers['memory'])} / {binary_size(numbers['limit'])}",
        MemPerc=f"{numbers['memory_percent']:.2f}%",
        NetIO=f"{units.human_size(numbers['rx'])} / {units.human_size(numbers['tx'])}",
        BlockIO=f"{units.human_size(numbers['read'])} / {units.human_size(numbers['write'])}",
        PIDs=str(numbers["pids"]),
    )
    return row


class Watched:
    """One container's latest numbers, filled by its collector thread."""

    def __init__(self, container: str) -> None:
        self.container = container
        self.numbers: dict[str, Any] | None = None
        self.error: errors.KetchError | None = None
        self.first = threading.Event()


def collect(cli: Cli, watched: Watched, stream: bool) -> None:
    try:
        response = cli.client.request(
            "GET", f"/containers/{watched.container}/stats", params={"stream": stream}
        )
        for sample in response.json_messages():
            numbers = usage(sample)
            numbers["valid"] = True
            watched.numbers = numbers
            watched.first.set()
            if not stream:
                break
    except errors.KetchError as error:
        watched.error = error
    except (OSError, ValueError):
        pass
    if stream and watched.numbers is not None:
        watched.numbers = dict(watched.numbers, valid=False)  # the stream ended
    watched.first.set()


class Board:
    """The containers shown, in the order they were added; collectors started on add."""

    def __init__(self, cli: Cli, stream: bool) -> None:
        self.cli = cli
        self.stream = stream
        self.watched: list[Watched] = []
        self.lock = threading.Lock()

    def add(self, container: str) -> None:
        with self.lock:
            if any(w.container == container for w in self.watched):
                return
            watched = Watched(container)
            self.watched.append(watched)
        threading.Thread(target=collect, args=(self.cli, watched, self.stream), daemon=True).start()

    def remove(self, container: str) -> None:
        with self.lock:
            self.watched = [w for w in self.watched if w.container != container]

    def wait_first(self) -> None:
        deadline = time.monotonic() + STATS_TIMEOUT
        for watched in list(self.watched):
            if not watched.first.wait(max(0.0, deadline - time.monotonic())):
                watched.numbers = {"valid": False}

    def rows(self, truncate: bool) -> list[dict[str, str]]:
        with self.lock:
            return [stats_row(w.container, w.numbers, truncate) for w in self.watched]


def follow_events(cli: Cli, board: Board, show_all: bool) -> None:
    """Containers starting (or, with -a, created) join the board; dying ones leave it."""
    try:
        response = cli.client.request("GET", "/events", params={"filters": {"type": ["container"]}})
        for event in response.json_messages():
            action = event.get("Action") or event.get("status")
            identifier = short_id((event.get("Actor") or {}).get("ID") or event.get("id", ""))
            if action == "start" or (action == "create" and show_all):
                board.add(identifier)
            elif action == "die" and not show_all:
                board.remove(identifier)
    except (errors.KetchError, OSError, ValueError):
        pass


def live_frame(table: str) -> str:
    """docker's redraw: home, the table, then each line again with erase-to-end-of-line,
    then erase below (the repeat is docker's own, kept so terminals look alike)."""
    text = "\x1b[H" + table
    return text + "".join(line + " \x1b[K\n" for line in text.split("\n")) + "\x1b[J"


def stats(cli: Cli, parsed: Parsed) -> int:
    stream = not parsed.no_stream
    board = Board(cli, stream)
    show_all = not parsed.args
    if show_all:
        if stream:
            threading.Thread(
                target=follow_events, args=(cli, board, parsed.all), daemon=True
            ).start()
        for container in cli.client.get("/containers/json", {"all": parsed.all or None}) or []:
            board.add(short_id(container["Id"]))
        board.wait_first()
    else:
        for name in parsed.args:
            board.add(name)
        board.wait_first()
        failures = [daemon_error_text(w.error) for w in board.watched if w.error is not None]
        if failures:
            raise ExitStatus(1, "\n".join(failures))
    template = parsed.format or "table"
    if template == "table":
        template = DEFAULT_FORMAT
    truncate = not parsed.no_trunc
    while True:
        table = render_rows(template, board.rows(truncate), HEADERS)
        cli.stdout.write(live_frame(table) if stream else table)
        cli.stdout.flush()
        if not stream or (not board.watched and not show_all):
            return 0
        time.sleep(REDRAW_SECONDS)


ENTRIES = {
    "stats": Entry(
        Command(
            "stats",
            "stats [OPTIONS] [CONTAINER...]",
            "Display a live stream of container(s) resource usage statistics",
            [
                Flag(
                    "all", "all", "a", BOOL, help="Show all containers (default shows just running)"
                ),
                Flag("format", "format", None, STRING, help="Format output using a Go template"),
                Flag(
                    "no_stream",
                    "no-stream",
                    None,
                    BOOL,
                    help="Disable streaming stats and only pull the first result",
                ),
                Flag("no_trunc", "no-trunc", None, BOOL, help="Do not truncate output"),
            ],
        ),
        stats,
    )
}
