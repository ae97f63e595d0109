"""The measures of bench/scale.py, each over the engines it is given, round-robin.

Every measure returns its medians per engine; what they are held against is
scale.py's table.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import netns
from cli_start import once
from engines import Engine
from memory_per_container import rollup_kib

from ketch.testing.registry import run_registry
from ketch.testing.unixhttp import UnixConnection

MIB = 1024.0


@dataclass
class Counts:
    containers: int = 100  # running, for memory, run -d and ps
    many: int = 1000  # created, for the growth row
    repeats: int = 3  # of each 100-container round
    timings: int = 20  # of each single command (hello-world, ps, inspect)
    transfers: int = 5  # of each pull and push of the large image
    clients: int = 8


@dataclass
class Medians:
    """Per engine (or tool), the samples of one measure; `median` is what the table shows."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in self.samples.items()}


@dataclass
class Images:
    busybox: str
    hello: str
    large: str


def memory_kib(engine: Engine, field_name: str = "Pss") -> int:
    return rollup_kib(engine.pids(), field_name)


def settle() -> None:
    # Shims and daemons finish their start-up work (and free its garbage) after `run -d`
    # has answered; memory read at once would count that transient.
    time.sleep(1.0)


def start_many(engine: Engine, argv: list[str], count: int, clients: int) -> float:
    """Seconds to run `argv` `count` times, from `clients` clients at once."""
    shares = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda share: [once(argv, engine.env) for _ in range(share)],
                      [s for s in shares if s]))  # fmt: skip
    return time.perf_counter() - started


def rotated(engines: list[Engine], round_: int) -> list[Engine]:
    """Each round starts with another engine, so none always runs on the heels of another's
    teardown."""
    return engines[round_ % len(engines) :] + engines[: round_ % len(engines)]


def sleeper(engine: Engine, images: Images) -> list[str]:
    return engine.argv("run", "-d", images.busybox, "sleep", "86400")


def idle(engines: list[Engine]) -> tuple[dict[str, float], dict[str, float]]:
    """Each engine with no containers: PSS and RSS (KiB) of all its processes."""
    settle()
    pss = {e.name: float(memory_kib(e, "Pss")) for e in engines}
    rss = {e.name: float(memory_kib(e, "Rss")) for e in engines}
    return pss, rss


def running(
    engines: list[Engine], images: Images, counts: Counts, idle_pss: dict[str, float]
) -> tuple[Medians, Medians, Medians]:
    """`run -d` of `containers` sleepers in a row (containers/s), the memory each adds
    (MiB PSS over the idle engine), and `ps` with them all running (s)."""
    rate, memory, ps = Medians(), Medians(), Medians()
    n = counts.containers
    for round_ in range(counts.repeats):
        order = rotated(engines, round_)
        for engine in order:
            rate.add(engine.name, n / start_many(engine, sleeper(engine, images), n, 1))
            settle()
            memory.add(engine.name, (memory_kib(engine) - idle_pss[engine.name]) / n / MIB)
        for _ in range(max(counts.timings // counts.repeats, 1)):
            for engine in order:
                ps.add(engine.name, once(engine.argv("ps"), engine.env))
        for engine in order:
            engine.remove_containers()
    return rate, memory, ps


def parallel(engines: list[Engine], images: Images, counts: Counts) -> Medians:
    """`run -d` of `containers` sleepers from `clients` clients at once (containers/s)."""
    rate = Medians()
    for round_ in range(counts.repeats):
        order = rotated(engines, round_)
        for engine in order:
            seconds = start_many(engine, sleeper(engine, images), counts.containers,
                                 counts.clients)  # fmt: skip
            rate.add(engine.name, counts.containers / seconds)
            engine.remove_containers()
    return rate


def hello(engines: list[Engine], images: Images, counts: Counts) -> Medians:
    """`run --rm hello-world` on each engine's default network, image cached (s)."""
    times = Medians()
    for engine in engines:
        once(engine.argv("run", "--rm", images.hello), engine.env)  # warm caches
    for _ in range(counts.timings):
        for engine in engines:
            times.add(engine.name, once(engine.argv("run", "--rm", images.hello), engine.env))
    return times


def pull(engines: list[Engine], images: Images, counts: Counts, tmp: Path,
         skopeo: bool) -> Medians:  # fmt: skip
    """`pull` of the large image, removed before each run (s); and `skopeo copy` of it to a
    directory, the floor of fetching and storing it."""
    times = Medians()
    target = tmp / "skopeo-copy"
    skopeo_argv = ["skopeo", "copy", "--insecure-policy", "--src-tls-verify=false", "-q",
                   f"docker://{images.large}", f"dir:{target}"]  # fmt: skip
    for _ in range(counts.transfers):
        for engine in engines:
            if has_image(engine, images.large):
                engine.run("rmi", "-f", images.large)
            times.add(engine.name, once(engine.argv("pull", "-q", images.large), engine.env))
        if skopeo:
            shutil.rmtree(target, ignore_errors=True)
            times.add("skopeo", once(skopeo_argv, {}))
    shutil.rmtree(target, ignore_errors=True)
    return times


def has_image(engine: Engine, reference: str) -> bool:
    return bool(engine.output("images", "-q", reference).strip())


def push(engines: list[Engine], images: Images, counts: Counts, tmp: Path,
         push_port: int) -> Medians:  # fmt: skip
    """`push` of the large image to a registry that is empty each time (s)."""
    times = Medians()
    target = f"127.0.0.1:{push_port}/large:latest"
    for engine in engines:
        if not has_image(engine, images.large):
            engine.run("pull", "-q", images.large)
        engine.run("tag", images.large, target)
    for i in range(counts.transfers):
        for engine in engines:
            base = tmp / f"push-{engine.name}-{i}"
            with ExitStack() as stack:
                with netns.entered(engine.netns):
                    stack.enter_context(run_registry(base, port=push_port))
                times.add(engine.name, once(engine.argv("push", "-q", target), engine.env))
            shutil.rmtree(base, ignore_errors=True)
    return times


@dataclass
class Growth:
    """ketchd with few and with many containers created (not started)."""

    memory_per_container: dict[int, float] = field(default_factory=dict)  # MiB PSS above idle
    ps_per_container: dict[int, float] = field(default_factory=dict)  # s of `ps -a` / count
    inspect: dict[int, float] = field(default_factory=dict)  # s of `inspect` of one


def growth(ketch: Engine, images: Images, counts: Counts, socket_path: str,
           idle_pss: float) -> Growth:  # fmt: skip
    """ketchd's memory and `ps -a`/`inspect` latency at `containers` and at `many`
    containers created, made through the API (the CLI's own start-up is not the point)."""
    found = Growth()
    created: list[str] = []
    for count in (counts.containers, counts.many):
        with ThreadPoolExecutor(4) as pool:
            created += pool.map(lambda _: create(socket_path, images.busybox),
                                range(count - len(created)))  # fmt: skip
        settle()
        found.memory_per_container[count] = (memory_kib(ketch) - idle_pss) / count / MIB
        ps = [once(ketch.argv("ps", "-a"), ketch.env) for _ in range(counts.timings)]
        found.ps_per_container[count] = statistics.median(ps) / count
        inspect = [once(ketch.argv("inspect", created[0]), ketch.env)
                   for _ in range(counts.timings)]  # fmt: skip
        found.inspect[count] = statistics.median(inspect)
    ketch.remove_containers()
    return found


def create(socket_path: str, image: str) -> str:
    connection = UnixConnection(socket_path)
    try:
        body = json.dumps({"Image": image, "Cmd": ["sleep", "1"]})
        connection.request("POST", "/containers/create", body,
                           {"Content-Type": "application/json"})  # fmt: skip
        response = connection.getresponse()
        answer = response.read()
        if response.status != 201:
            raise RuntimeError(f"create answered {response.status}: {answer[:200]!r}")
        return str(json.loads(answer)["Id"])
    finally:
        connection.close()
