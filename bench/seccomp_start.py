"""What seccomp costs a container's start: Docker's default profile against none.

Starts its own registry (seeded offline) and ketchd (debug log on), then runs
`ketch run --rm busybox true` N times confined by ketchd's default profile and
N times with `--security-opt seccomp=unconfined`, and prints for each the
median wall time and the median of what ketchd's debug log says the start
took (spawn: fork server, shim, init ready; start: attach and start, which
includes the init's last steps up to execve), then the time of N `exec`s.

    .venv/bin/python bench/seccomp_start.py [-n 20]    # as root
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ketch.testing import images
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import run_registry

STARTED = re.compile(rb"started \w+: spawn ([\d.]+) ms, attach and start ([\d.]+) ms")


def runs(daemon: Daemon, argv: list[str], env: dict[str, str], n: int) -> dict[str, float]:
    log_start = daemon.log_path.stat().st_size
    walls = []
    for _ in range(n):
        begun = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - begun)
    with open(daemon.log_path, "rb") as log:
        log.seek(log_start)
        found = STARTED.findall(log.read())
    return {
        "wall": statistics.median(walls) * 1000,
        "spawn": statistics.median(float(spawn) for spawn, _ in found),
        "start": statistics.median(float(start) for _, start in found),
    }


def exec_runs(ketch: str, env: dict[str, str], opts: list[str], n: int) -> float:
    name = f"bench-exec-{os.getpid()}"
    subprocess.run([ketch, "run", "-d", "--name", name, *opts, "busybox", "sleep", "600"],
                   env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        walls = []
        for _ in range(n):
            begun = time.perf_counter()
            subprocess.run([ketch, "exec", name, "true"], env=env, check=True)
            walls.append(time.perf_counter() - begun)
        return statistics.median(walls) * 1000
    finally:
        subprocess.run([ketch, "rm", "-f", name], env=env, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    ketch = shutil.which("ketch") or str(Path(__file__).parents[1] / ".venv/bin/ketch")
    with tempfile.TemporaryDirectory() as tmp, run_registry(Path(tmp)) as registry:
        images.push_sync(images.busybox(), registry.url, repo="library/busybox")
        daemon = run_daemon(Path(tmp), mirrors=[registry.url])
        try:
            env = dict(os.environ, KETCH_HOST=daemon.url)
            subprocess.run([ketch, "pull", "-q", "busybox"], env=env, check=True)
            variants = {
                "default profile": [],
                "seccomp=unconfined": ["--security-opt", "seccomp=unconfined"],
            }
            for opts in variants.values():  # warm caches
                runs(daemon, [ketch, "run", "--rm", *opts, "busybox", "true"], env, 2)
            for label, opts in variants.items():
                argv = [ketch, "run", "--rm", *opts, "busybox", "true"]
                times = runs(daemon, argv, env, args.n)
                spawn, start = times["spawn"], times["start"]
                print(f"run --rm busybox true, {label:20} wall {times['wall']:6.1f} ms  "
                      f"spawn {spawn:5.1f} ms  start {start:5.1f} ms")  # fmt: skip
            for label, opts in variants.items():
                wall = exec_runs(ketch, env, opts, args.n)
                print(f"exec true, {label:31} wall {wall:6.1f} ms")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
