"""ketch against Docker and Podman on this machine: one command, one table.

Installs what it compares against from Debian if missing, starts dockerd (with
containerd) and podman on roots and network namespaces of their own, builds the
same images offline into a local registry every engine pulls from, measures each
row on every engine round-robin, prints medians, ratios and the targets, and
removes all it started, also on failure or Ctrl-C.

    .venv/bin/python bench/scale.py [--rows ROW,...] [--markdown]   # as root
    .venv/bin/python bench/scale.py --quick   # ketch alone, small counts (CI)

`--quick` installs and starts no competitor and fails only on an error, never on
a time. Rows: idle, memory, run, run-parallel, hello, ps, pull, push, growth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import FrameType

import netns
import scale_rows as rows
from engines import Engine, start_docker, start_ketch, start_podman

from ketch.testing import images
from ketch.testing.registry import free_port, run_registry

ROWS = ("idle", "memory", "run", "run-parallel", "hello", "ps", "pull", "push", "growth")
COMPETITORS = {  # binary: Debian package
    "dockerd": "docker.io",
    "podman": "podman",
    "/usr/lib/podman/netavark": "netavark",
    "skopeo": "skopeo",
    "docker-registry": "docker-registry",
}
DOCKERD_ROOT = Path("/tmp/ketch-scale-dockerd")
PODMAN_ROOT = Path("/tmp/ketch-scale-podman")
DOCKERD_NETNS = "ketch-scale-dockerd"
PODMAN_NETNS = "ketch-scale-podman"
COLUMNS = ("ketch", "docker", "podman", "skopeo")


@dataclass
class Row:
    title: str
    unit: str
    values: dict[str, float]
    target: str
    check: Callable[[dict[str, float]], float | None]  # the measure's ratio, if computable
    limit: float  # what the ratio must stay within (a maximum, or with `at_least` a minimum)
    at_least: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        try:
            return self.check(self.values)
        except (KeyError, ZeroDivisionError):
            return None

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return "-"
        met = ratio >= self.limit if self.at_least else ratio <= self.limit
        return "met" if met else "missed"


def over(other: str) -> Callable[[dict[str, float]], float]:
    return lambda values: values["ketch"] / values[other]


def absolute(values: dict[str, float]) -> float:
    return values["ketch"]


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f}"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def table(found: list[Row], markdown: bool) -> str:
    head = ["measure", "unit", *COLUMNS, "ratio", "target", "result"]
    body = [[r.title, r.unit, *(fmt(r.values.get(c), r.unit) for c in COLUMNS),
             fmt(r.ratio, ""), r.target, r.verdict] for r in found]  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                 for line in [head, *body]]  # fmt: skip
    notes = [f"- {r.title}: {r.note}" for r in found if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def install_missing() -> None:
    missing = [pkg for binary, pkg in COMPETITORS.items()
               if not (shutil.which(binary) or Path(binary).is_file())]  # fmt: skip
    if missing:
        print(f"installing {' '.join(missing)}", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            check=True,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )


def large_image(megabytes: int) -> images.TestImage:
    """One layer of random bytes (incompressible: the transfer is all of it)."""
    data = os.urandom(megabytes * 1024 * 1024)
    tar = images.layer_tar([images.file("data", data)])
    return images.make_image("bench/large", "latest", [tar], {"Cmd": ["/data"]}, ["ADD data /"])


@contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run as Ctrl-C does, through the teardown; the teardown
    itself is not interrupted."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def wait(signum: int, frame: FrameType | None) -> None:
        print("cleaning up, a moment", file=sys.stderr)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        yield
    finally:
        # A handler, not SIG_IGN: the commands the teardown runs must not inherit it.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, wait)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="ketch alone, small counts: that every measure runs"
    )
    parser.add_argument(
        "--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}"
    )
    parser.add_argument("--markdown", action="store_true", help="the table in Markdown")
    parser.add_argument(
        "--large-mb",
        type=int,
        default=None,
        help="size of the large image's layer (300; 8 with --quick)",
    )
    parser.add_argument("--no-podman", action="store_true")
    for name in fields(rows.Counts):
        parser.add_argument(f"--{name.name}", type=int, help=f"(default {name.default})")
    args = parser.parse_args()  # fmt: skip
    args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(args.rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    return args


def main() -> int:
    args = parse()
    if os.geteuid() != 0:
        print("scale.py needs root: it starts daemons and containers", file=sys.stderr)
        return 2
    counts = rows.Counts()
    if args.quick:
        counts = rows.Counts(containers=5, many=20, repeats=2, timings=3, transfers=2)
    counts = replace(counts, **{f.name: getattr(args, f.name) for f in fields(rows.Counts)
                                if getattr(args, f.name) is not None})  # fmt: skip
    large_mb = args.large_mb or (8 if args.quick else 300)
    competitors = not args.quick
    if competitors:
        install_missing()
    traces_before = netns.competitor_traces()
    with ExitStack() as stack, interrupts_as_exceptions():
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ketch-scale-")))
        found = measure(stack, tmp, args, counts, large_mb, competitors)
        print(table(found, args.markdown))
    traces = netns.competitor_traces() - traces_before
    if competitors and traces:
        print("the host's network changed: " + "; ".join(sorted(traces)), file=sys.stderr)
        return 1
    return 0


def measure(stack: ExitStack, tmp: Path, args: argparse.Namespace, counts: rows.Counts,
            large_mb: int, competitors: bool) -> list[Row]:  # fmt: skip
    hub = stack.enter_context(run_registry(tmp / "hub"))
    refs = rows.Images(f"{hub.host_port}/library/busybox:latest",
                       f"{hub.host_port}/library/hello-world:latest",
                       f"{hub.host_port}/bench/large:latest")  # fmt: skip
    images.push_sync(images.busybox(), hub.url, repo="library/busybox")
    images.push_sync(images.hello_world(), hub.url, repo="library/hello-world")
    images.push_sync(large_image(large_mb), hub.url, repo="bench/large")
    push_port = free_port()
    ketch = start_ketch(stack, tmp)
    engines: list[Engine] = [ketch]
    if competitors:
        engines.append(start_docker(stack, DOCKERD_ROOT, DOCKERD_NETNS))
        if not args.no_podman:
            engines.append(start_podman(stack, PODMAN_ROOT, PODMAN_NETNS,
                                        [hub.host_port, f"127.0.0.1:{push_port}"]))  # fmt: skip
    for engine in engines[1:]:
        # The same images, from the same storage, at the same address in its namespace.
        with netns.entered(engine.netns):
            stack.enter_context(
                run_registry(
                    tmp / f"hub-{engine.name}",
                    port=int(hub.host_port.rsplit(":", 1)[1]),
                    storage=hub.storage_dir,
                )
            )
    for engine in engines:
        engine.run("pull", "-q", refs.busybox)
        engine.run("pull", "-q", refs.hello)
    return collect(engines, refs, counts, args.rows, tmp, push_port, competitors)


def collect(engines: list[Engine], refs: rows.Images, counts: rows.Counts, wanted: list[str],
            tmp: Path, push_port: int, competitors: bool) -> list[Row]:  # fmt: skip
    n = counts.containers
    found: list[Row] = []
    idle_pss, idle_rss = rows.idle(engines)
    if "idle" in wanted:
        found.append(
            Row(
                "idle engine memory (RSS, ketchd + fork server)",
                "MiB",
                {k: v / rows.MIB for k, v in idle_rss.items()},
                "ketch <= 40 MiB",
                absolute,
                40.0,
                note="docker: dockerd + containerd; podman has no daemon",
            )
        )
    if {"memory", "run", "ps"} & set(wanted):
        rate, memory, ps = rows.running(engines, refs, counts, idle_pss)
        if "memory" in wanted:
            found.append(Row(f"memory per running container ({n}, PSS over idle)", "MiB",
                             memory.medians(), "ketch <= 0.3 MiB", absolute, 0.3,
                             note="all engine processes: daemons, their helpers, every shim "
                                  "(conmon for podman)"))  # fmt: skip
        if "run" in wanted:
            found.append(
                Row(
                    f"run -d x{n} in a row",
                    "ctr/s",
                    rate.medians(),
                    ">= 10x docker",
                    over("docker"),
                    10.0,
                    at_least=True,
                )
            )
        if "ps" in wanted:
            found.append(
                Row(f"ps, {n} running", "ms", ps.medians(), "<= 1.0x docker", over("docker"), 1.0)
            )
    if "run-parallel" in wanted:
        found.append(
            Row(
                f"run -d x{n}, {counts.clients} clients",
                "ctr/s",
                rows.parallel(engines, refs, counts).medians(),
                ">= 10x docker",
                over("docker"),
                10.0,
                at_least=True,
            )
        )
    if "hello" in wanted:
        found.append(Row("run --rm hello-world", "ms", rows.hello(engines, refs, counts)
                         .medians(), "<= 0.25x docker", over("docker"), 0.25,
                         note="each on its default bridge (docker0 and podman's in network "
                              "namespaces of their own)"))  # fmt: skip
    if "pull" in wanted:
        pulled = rows.pull(engines, refs, counts, tmp, skopeo=competitors).medians()
        found.append(
            Row(
                "pull, large image, vs docker",
                "s",
                pulled,
                "<= 0.5x docker",
                over("docker"),
                0.5,
                note="one layer of random bytes, removed before each pull",
            )
        )
        found.append(
            Row(
                "pull, large image, vs skopeo copy to a dir",
                "s",
                pulled,
                "<= 1.0x skopeo",
                over("skopeo"),
                1.0,
            )
        )
    if "push" in wanted:
        found.append(
            Row(
                "push, large image, empty registry",
                "s",
                rows.push(engines, refs, counts, tmp, push_port).medians(),
                "<= 0.33x docker",
                over("docker"),
                0.33,
            )
        )
    if "growth" in wanted:
        found += growth_rows(engines[0], refs, counts, idle_pss["ketch"])
    return found


def growth_rows(ketch: Engine, refs: rows.Images, counts: rows.Counts,
                idle_pss: float) -> list[Row]:  # fmt: skip
    few, many = counts.containers, counts.many
    socket_path = ketch.env["KETCH_HOST"].removeprefix("unix://")
    grown = rows.growth(ketch, refs, counts, socket_path, idle_pss)

    def ratio(figures: dict[int, float]) -> Callable[[dict[str, float]], float]:
        return lambda _: figures[many] / figures[few]

    def at(figures: dict[int, float]) -> dict[str, float]:
        return {"ketch": figures[many]}

    target = f"<= 2x the {few}-container figure"
    return [
        Row(f"ketchd memory per created container, {many}", "MiB", at(
            grown.memory_per_container), target, ratio(grown.memory_per_container), 2.0,
            note=f"PSS over idle / count; ratio to the same at {few}"),
        Row(f"ps -a per container, {many} created", "ms", at(grown.ps_per_container),
            target, ratio(grown.ps_per_container), 2.0,
            note=f"ps -a time / count; ratio to the same at {few}"),
        Row(f"inspect of one, {many} created", "ms", at(grown.inspect), target,
            ratio(grown.inspect), 2.0, note=f"ratio to the same at {few}"),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
