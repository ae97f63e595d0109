"""`ketch update`: change a container's resources and restart policy while it lives."""

from __future__ import annotations

from ketch import errors
from ketch.cli import units
from ketch.cli.app import Cli, Entry, ExitStatus, daemon_error_text
from ketch.cli.flags import INT, STRING, Command, Flag, Parsed, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _bytes(text: str) -> str:
    units.ram_in_bytes(text)  # refused here, at parse time, with go-units' words
    return text


def _swap(text: str) -> str:
    return text if text == "-1" else _bytes(text)


def _cpus(text: str) -> str:
    try:
        float(text)
    except ValueError:
        raise ValueError(f"failed to parse {text} as a rational number") from None
    return text


def _blkio_weight(text: str) -> str:
    if not text.isdigit() or int(text) > 65535:
        reason = "value out of range" if text.isdigit() else "invalid syntax"
        raise ValueError(f'strconv.ParseUint: parsing "{text}": {reason}')
    return text


FLAGS = [
    Flag(
        "blkio_weight",
        "blkio-weight",
        None,
        STRING,
        check=_blkio_weight,
        metavar="uint16",
        help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
    ),
    Flag(
        "cpu_period",
        "cpu-period",
        None,
        INT,
        help="Limit CPU CFS (Completely Fair Scheduler) period",
    ),
    Flag(
        "cpu_quota", "cpu-quota", None, INT, help="Limit CPU CFS (Completely Fair Scheduler) quota"
    ),
    Flag(
        "cpu_rt_period",
        "cpu-rt-period",
        None,
        INT,
        help="Limit the CPU real-time period in microseconds",
    ),
    Flag(
        "cpu_rt_runtime",
        "cpu-rt-runtime",
        None,
        INT,
        help="Limit the CPU real-time runtime in microseconds",
    ),
    Flag("cpu_shares", "cpu-shares", "c", INT, help="CPU shares (relative weight)"),
    Flag("cpus", "cpus", None, STRING, check=_cpus, metavar="decimal", help="Number of CPUs"),
    Flag(
        "cpuset_cpus",
        "cpuset-cpus",
        None,
        STRING,
        help="CPUs in which to allow execution (0-3, 0,1)",
    ),
    Flag(
        "cpuset_mems",
        "cpuset-mems",
        None,
        STRING,
        help="MEMs in which to allow execution (0-3, 0,1)",
    ),
    Flag("memory", "memory", "m", STRING, check=_bytes, metavar="bytes", help="Memory limit"),
    Flag(
        "memory_reservation",
        "memory-reservation",
        None,
        STRING,
        check=_bytes,
        metavar="bytes",
        help="Memory soft limit",
    ),
    Flag(
        "memory_swap",
        "memory-swap",
        None,
        STRING,
        check=_swap,
        metavar="bytes",
        help="Swap limit equal to memory plus swap: -1 to enable unlimited swap",
    ),
    Flag("kernel_memory", "kernel-memory", None, STRING, check=_bytes),
    Flag(
        "pids_limit",
        "pids-limit",
        None,
        INT,
        help="Tune container pids limit (set -1 for unlimited)",
    ),
    Flag("restart", "restart", None, STRING, help="Restart policy to apply when a container exits"),
]


def restart_policy(text: str) -> dict[str, Any]:
    """opts.ParseRestartPolicy: "name[:count]"; the name is the daemon's to judge."""
    name, _, count = text.partition(":")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError:
            raise UsageError(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from None
    return {"Name": name, "MaximumRetryCount": retries}


def update_body(parsed: Parsed) -> dict[str, Any]:
    """container.UpdateConfig as docker fills it: every resource, zero meaning unchanged."""

    def size(value: str | None) -> int:
        if not value:
            return 0
        return -1 if value == "-1" else units.ram_in_bytes(value)

    body: dict[str, Any] = {
        "BlkioWeight": int(parsed.blkio_weight or 0),
        "CpusetCpus": parsed.cpuset_cpus or "",
        "CpusetMems": parsed.cpuset_mems or "",
        "CpuShares": parsed.cpu_shares or 0,
        "Memory": size(parsed.memory),
        "MemoryReservation": size(parsed.memory_reservation),
        "MemorySwap": size(parsed.memory_swap),
        "KernelMemory": size(parsed.kernel_memory),
        "CpuPeriod": parsed.cpu_period or 0,
        "CpuQuota": parsed.cpu_quota or 0,
        "CpuRealtimePeriod": parsed.cpu_rt_period or 0,
        "CpuRealtimeRuntime": parsed.cpu_rt_runtime or 0,
        "NanoCpus": int(round(float(parsed.cpus) * 1e9)) if parsed.cpus else 0,
    }
    if parsed.pids_limit:
        body["PidsLimit"] = parsed.pids_limit
    body["RestartPolicy"] = restart_policy(parsed.restart or "")
    return body


def update(cli: Cli, parsed: Parsed) -> int:
    if not parsed.changed:
        raise ExitStatus(1, "you must provide one or more flags when using this command")
    body = update_body(parsed)
    warnings: list[str] = []
    failures: list[str] = []
    for name in parsed.args:
        try:
            answer = cli.client.post(f"/containers/{name}/update", body=body) or {}
        except errors.KetchError as error:
            failures.append(daemon_error_text(error))
            continue
        cli.out(name)
        warnings += answer.get("Warnings") or []
    if warnings:
        cli.out("\n".join(warnings))
    if failures:
        raise ExitStatus(1, "\n".join(failures))
    return 0


ENTRIES = {
    "update": Entry(
        Command(
            "update",
            "update [OPTIONS] CONTAINER [CONTAINER...]",
            "Update configuration of one or more containers",
            FLAGS,
            min_args=1,
        ),
        update,
    )
}
