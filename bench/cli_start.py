"""Wall time of `ketch ps` against `docker ps`, both against one ketchd.

Starts its own ketchd (no registry needed: ps lists what there is), runs each
CLI N times round-robin, and prints the medians and their ratio, with the bare
interpreter's start-up for scale.

    .venv/bin/python bench/cli_start.py [-n 40]    # as root
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ketch.testing.daemon import run_daemon


def once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=40)
    args = parser.parse_args()
    ketch = str(Path(sys.executable).with_name("ketch"))
    docker = shutil.which("docker") or "docker"
    with tempfile.TemporaryDirectory() as tmp:
        daemon = run_daemon(Path(tmp))
        try:
            env = dict(os.environ, KETCH_HOST=daemon.url, DOCKER_HOST=daemon.url)
            env["DOCKER_CONFIG"] = str(Path(tmp) / "docker-config")
            runs = {
                "ketch ps": [ketch, "ps"],
                "docker ps": [docker, "ps"],
                "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
            }
            for argv in runs.values():
                once(argv, env)  # warm caches
            times: dict[str, list[float]] = {label: [] for label in runs}
            # Round-robin, so a busy moment of the machine falls on every command alike.
            for _ in range(args.n):
                for label, argv in runs.items():
                    times[label].append(once(argv, env))
            medians = {}
            for label, values in times.items():
                medians[label] = statistics.median(values)
                print(f"{label:40} median {medians[label] * 1000:6.1f} ms  "
                      f"min {min(values) * 1000:6.1f} ms")  # fmt: skip
            ratio = medians["ketch ps"] / medians["docker ps"]
            print(f"ratio ketch ps / docker ps: {ratio:.2f}")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
