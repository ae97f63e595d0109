"""ketchd at scale: `run -d` rate, and memory and list/inspect latency with many containers.

Starts its own registry and ketchd (busybox pushed and pulled), then measures:

- idle memory: RSS and PSS of ketchd and its fork server, before any container;
- `run -d` rate: N `run -d busybox sleep 1000` in a row, then the same with P clients
  at once (containers per second, end to end through the CLI);
- scale: containers created (not started) up to each count, then ketchd's memory and the
  medians of `ps -a` and `inspect <one>` at that count.

    .venv/bin/python bench/daemon_scale.py [--client ketch|docker] [-n 100] [-p 8]
        [--counts 100,1000]    # as root

With BENCH_DOCKER_HOST set (e.g. from bench/dockerd.sh, busybox loaded there) the run rate is
measured against that daemon too. The functions are importable: `measure_run_rate`,
`measure_scale`, `daemon_memory`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

KETCH = str(Path(sys.executable).with_name("ketch"))
DOCKER = shutil.which("docker") or "docker"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(child) for child in f.read().split()]
    except OSError:
        pass
    return found


def _rollup(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if rest.strip().endswith("kB"):
                    values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


def daemon_memory(pid: int) -> dict[str, float]:
    """RSS and PSS in MiB of ketchd (`pid`) and its fork server, apart and summed."""
    forkservers = [child for child in _children(pid) if _comm(child).startswith("ketch-fork")]
    daemon, forks = _rollup(pid), [_rollup(child) for child in forkservers]
    result = {
        "daemon_rss": daemon.get("Rss", 0) / 1024,
        "daemon_pss": daemon.get("Pss", 0) / 1024,
        "forkserver_rss": sum(f.get("Rss", 0) for f in forks) / 1024,
        "forkserver_pss": sum(f.get("Pss", 0) for f in forks) / 1024,
    }
    result["rss"] = result["daemon_rss"] + result["forkserver_rss"]
    result["pss"] = result["daemon_pss"] + result["forkserver_pss"]
    return result


def wait_for_forkserver(pid: int, timeout: float = 10.0) -> None:
    """ketchd starts its fork server just after it answers: until it is there, and has
    settled (its imports done), the idle figure would leave it out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(_comm(child).startswith("ketch-fork") for child in _children(pid)):
            break
        time.sleep(0.05)
    time.sleep(2)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed: {done.stderr.strip()}")
    return done.stdout


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    _run(argv, env)
    return time.perf_counter() - start


def measure_run_rate(
    client: list[str], env: dict[str, str], n: int = 100, parallel: int = 1,
    image: str = "busybox",
) -> tuple[float, list[str]]:  # fmt: skip
    """`n` `run -d image sleep 1000`, spread over `parallel` clients each running its share
    one after the other; returns (containers per second, their ids)."""
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(count: int) -> None:
        try:
            for _ in range(count):
                out = _run([*client, "run", "-d", image, "sleep", "1000"], env)
                with lock:
                    ids.append(out.strip())
        except BaseException as error:  # reported after the others finish
            errors.append(error)

    shares = [n // parallel + (1 if i < n % parallel else 0) for i in range(parallel)]
    threads = [threading.Thread(target=worker, args=(share,)) for share in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return n / elapsed, ids


def remove_all(client: list[str], env: dict[str, str]) -> None:
    ids = _run([*client, "ps", "-aq"], env).split()
    for start in range(0, len(ids), 200):
        subprocess.run([*client, "rm", "-f", *ids[start : start + 200]], env=env,
                       stdout=subprocess.DEVNULL, check=True)  # fmt: skip


def latency(argv: list[str], env: dict[str, str], rounds: int = 15) -> float:
    """Median wall time of `argv`, in seconds."""
    _run(argv, env)  # warm
    return statistics.median(_timed(argv, env) for _ in range(rounds))


def compare_ps(commands: dict[str, list[str]], env: dict[str, str], rounds: int = 30
               ) -> dict[str, float]:  # fmt: skip
    """Median wall time (ms) of each command, run round-robin so that a busy moment of the
    machine falls on all of them alike."""
    for argv in commands.values():
        _run(argv, env)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(rounds):
        for label, argv in commands.items():
            times[label].append(_timed(argv, env))
    return {label: statistics.median(values) * 1000 for label, values in times.items()}


def measure_scale(
    client: list[str], env: dict[str, str], pid: int, counts: list[int],
    image: str = "busybox", rounds: int = 15,
) -> list[dict[str, float]]:  # fmt: skip
    """Create (not start) containers up to each count; at each, ketchd's memory and the
    medians of `ps -a` and `inspect` of the first container (ms)."""
    rows: list[dict[str, float]] = []
    created: list[str] = []
    for count in counts:
        while len(created) < count:
            created.append(_run([*client, "create", image, "sleep", "1000"], env).strip())
        time.sleep(1)  # let the daemon settle (freed buffers, timers)
        row = {"count": float(count), **daemon_memory(pid)}
        row["ps_a_ms"] = latency([*client, "ps", "-a"], env, rounds) * 1000
        row["inspect_ms"] = latency([*client, "inspect", created[0]], env, rounds) * 1000
        rows.append(row)
    return rows


@contextmanager
def ketchd_with_busybox():  # type: ignore[no-untyped-def]
    """A registry with busybox and a ketchd pulling from it; yields (daemon, env)."""
    from ketch.testing import images
    from ketch.testing.daemon import run_daemon
    from ketch.testing.registry import run_registry

    with tempfile.TemporaryDirectory() as tmp, run_registry(Path(tmp)) as registry:
        images.push_sync(images.busybox(), registry.url, repo="library/busybox")
        # Without debug logs (the tests' daemons log every request): as ketchd runs by default.
        daemon = run_daemon(Path(tmp), mirrors=[registry.url], debug=False)
        try:
            env = dict(os.environ, KETCH_HOST=daemon.url, DOCKER_HOST=daemon.url,
                       DOCKER_CONFIG=str(Path(tmp) / "docker-config"))  # fmt: skip
            yield daemon, env
        finally:
            daemon.stop()


def _memory_line(label: str, memory: dict[str, float]) -> str:
    return (f"{label}: RSS {memory['rss']:.1f} MiB (ketchd {memory['daemon_rss']:.1f} + "
            f"fork server {memory['forkserver_rss']:.1f}), PSS {memory['pss']:.1f} MiB "
            f"({memory['daemon_pss']:.1f} + {memory['forkserver_pss']:.1f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=["ketch", "docker"], default="ketch")
    parser.add_argument("--ketch", default=KETCH, help="the ketch command to measure")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("-p", type=int, default=8)
    parser.add_argument("--counts", default="100,1000")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    client = [args.ketch if args.client == "ketch" else DOCKER]
    with ketchd_with_busybox() as (daemon, env):
        wait_for_forkserver(daemon.pid)
        print(_memory_line("idle ketchd", daemon_memory(daemon.pid)))
        _run([DOCKER, "pull", "-q", "busybox"], env)
        print(_memory_line("after a pull", daemon_memory(daemon.pid)))
        if not args.skip_rate:
            for parallel in (1, args.p):
                rate, _ = measure_run_rate(client, env, args.n, parallel)
                print(f"run -d x{args.n}, {parallel} client(s): {rate:.1f} containers/s "
                      f"({1000 / rate:.1f} ms each)")  # fmt: skip
                if parallel == 1:
                    medians = compare_ps({"ketch ps": [args.ketch, "ps"],
                                          "docker ps": [DOCKER, "ps"]}, env)  # fmt: skip
                    print(f"{args.n} running: ketch ps {medians['ketch ps']:.1f} ms, docker ps "
                          f"{medians['docker ps']:.1f} ms, ratio "
                          f"{medians['ketch ps'] / medians['docker ps']:.2f}")  # fmt: skip
                remove_all(client, env)
            other = os.environ.get("BENCH_DOCKER_HOST")
            if other:
                denv = dict(env, DOCKER_HOST=other)
                for parallel in (1, args.p):
                    rate, _ = measure_run_rate([DOCKER], denv, args.n, parallel)
                    print(f"dockerd: run -d x{args.n}, {parallel} client(s): {rate:.1f}/s")
                    remove_all([DOCKER], denv)
        if not args.skip_scale:
            counts = [int(c) for c in args.counts.split(",")]
            for row in measure_scale(client, env, daemon.pid, counts):
                count = int(row["count"])
                print(_memory_line(f"{count} created", row))
                print(f"{count} created: ps -a {row['ps_a_ms']:.1f} ms, "
                      f"inspect {row['inspect_ms']:.1f} ms")  # fmt: skip
            remove_all(client, env)


if __name__ == "__main__":
    main()
