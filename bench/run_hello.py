"""Wall time of `run --rm hello-world` with the image cached.

Starts its own registry (seeded offline) and ketchd, pulls once, then times
the ketch CLI and the real docker CLI against ketchd, N runs each, and prints
the medians and their ratio. With BENCH_DOCKER_HOST set (a running dockerd
with hello-world cached), the docker CLI against dockerd is timed too and the
ratio against it printed.

    .venv/bin/python bench/run_hello.py [-n 20]    # as root
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ketch.testing import images
from ketch.testing.daemon import run_daemon
from ketch.testing.registry import run_registry


def time_runs(argv: list[str], env: dict[str, str], n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float]) -> float:
    median = statistics.median(times)
    print(f"{label:48} median {median * 1000:7.1f} ms  min {min(times) * 1000:7.1f} ms")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    ketch = shutil.which("ketch") or str(Path(__file__).parents[1] / ".venv/bin/ketch")
    docker = shutil.which("docker") or "docker"
    with tempfile.TemporaryDirectory() as tmp, run_registry(Path(tmp)) as registry:
        images.push_sync(images.hello_world(), registry.url, repo="library/hello-world")
        daemon = run_daemon(Path(tmp), mirrors=[registry.url])
        try:
            env = dict(os.environ, KETCH_HOST=daemon.url, DOCKER_HOST=daemon.url)
            env["DOCKER_CONFIG"] = str(Path(tmp) / "docker-config")
            subprocess.run([ketch, "pull", "-q", "hello-world"], env=env, check=True)
            runs = {
                "ketch run --rm hello-world (ketchd)": ([ketch, "run", "--rm", "hello-world"], env),
                "docker run --rm hello-world (ketchd)": ([docker, "run", "--rm", "hello-world"],
                                                         env),
            }  # fmt: skip
            other = os.environ.get("BENCH_DOCKER_HOST")
            if other:
                denv = dict(os.environ, DOCKER_HOST=other)
                saved = subprocess.run([docker, "save", "hello-world"], env=env,
                                       check=True, capture_output=True).stdout  # fmt: skip
                subprocess.run([docker, "load", "-q"], env=denv, input=saved, check=True)
                runs["docker run --rm hello-world (dockerd)"] = (
                    [docker, "run", "--rm", "hello-world"], denv
                )
            for argv, run_env in runs.values():
                time_runs(argv, run_env, 2)  # warm caches
            # Round-robin, so a busy moment of the machine falls on every client alike.
            times: dict[str, list[float]] = {label: [] for label in runs}
            for _ in range(args.n):
                for label, (argv, run_env) in runs.items():
                    times[label] += time_runs(argv, run_env, 1)
            medians = {label: report(label, values) for label, values in times.items()}
            k, d = medians["ketch run --rm hello-world (ketchd)"], medians[
                "docker run --rm hello-world (ketchd)"]  # fmt: skip
            print(f"ratio docker-CLI/ketch-CLI against ketchd: {d / k:.2f}")
            if other:
                dd = medians["docker run --rm hello-world (dockerd)"]
                print(f"ratio ketchd/dockerd (docker CLI): {d / dd:.2f}")
                print(f"ratio ketch run -> ketchd / docker run -> dockerd: {k / dd:.2f}")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
