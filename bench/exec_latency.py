"""Wall time of `docker exec <container> true` against ketchd: what one exec costs.

Starts its own registry (seeded offline) and ketchd, runs one `busybox sleep`
container, then times the docker CLI's exec of `true` into it, N times, and
prints the median.

    .venv/bin/python bench/exec_latency.py [-n 30]    # as root
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=30)
    args = parser.parse_args()
    docker = shutil.which("docker") or "docker"
    with tempfile.TemporaryDirectory() as tmp, run_registry(Path(tmp)) as registry:
        images.push_sync(images.busybox(), registry.url, repo="library/busybox")
        daemon = run_daemon(Path(tmp), mirrors=[registry.url])
        try:
            env = dict(os.environ, DOCKER_HOST=daemon.url, DOCKER_CONFIG=str(Path(tmp) / "c"))
            subprocess.run([docker, "pull", "-q", "busybox"], env=env, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            name = f"exec{os.getpid()}"
            subprocess.run([docker, "run", "-d", "--name", name, "busybox", "sleep", "600"],
                           env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            times = []
            for _ in range(args.n):
                start = time.perf_counter()
                subprocess.run([docker, "exec", name, "true"], env=env, check=True)
                times.append(time.perf_counter() - start)
            print(f"docker exec <c> true (ketchd): median {statistics.median(times) * 1000:.1f} ms"
                  f", min {min(times) * 1000:.1f} ms ({args.n} runs)")  # fmt: skip
            subprocess.run([docker, "rm", "-f", name], env=env, stdout=subprocess.DEVNULL)
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
