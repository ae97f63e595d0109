"""Build times: ketchd's builder against dockerd's legacy builder, in one run.

Starts its own registry (seeded offline with busybox) and ketchd; with
BENCH_DOCKER_HOST set (a running dockerd, e.g. from bench/dockerd.sh) the same
builds run there too, through the docker CLI with DOCKER_BUILDKIT=0. Two
measures, N runs each, round-robin:

- cold: a small multi-stage Dockerfile built with --no-cache (the base image
  already present);
- rebuild: the same with only the last COPY's file changed, the cache warm.

    .venv/bin/python bench/build.py [-n 10]    # as root
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

DOCKERFILE = """\
FROM busybox AS build
WORKDIR /src
COPY a.txt .
RUN cat a.txt > out && echo built >> out
FROM busybox
LABEL bench=build
COPY --from=build /src/out /out
COPY b.txt /b.txt
CMD ["cat", "/out"]
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()
    ketch = shutil.which("ketch") or str(Path(__file__).parents[1] / ".venv/bin/ketch")
    docker = shutil.which("docker") or "docker"
    with tempfile.TemporaryDirectory() as tmp, run_registry(Path(tmp)) as registry:
        images.push_sync(images.busybox(), registry.url, repo="library/busybox")
        daemon = run_daemon(Path(tmp), mirrors=[registry.url])
        try:
            context = Path(tmp) / "context"
            context.mkdir()
            (context / "Dockerfile").write_text(DOCKERFILE)
            (context / "a.txt").write_text("a\n")
            (context / "b.txt").write_text("0\n")
            env = dict(os.environ, KETCH_HOST=daemon.url, DOCKER_HOST=daemon.url,
                       DOCKER_CONFIG=str(Path(tmp) / "docker-config"))  # fmt: skip
            subprocess.run([ketch, "pull", "-q", "busybox"], env=env, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            builders = {"ketch build -> ketchd": ([ketch, "build"], env)}
            other = os.environ.get("BENCH_DOCKER_HOST")
            if other:
                denv = dict(env, DOCKER_HOST=other, DOCKER_BUILDKIT="0")
                saved = subprocess.run([docker, "save", "busybox"], env=env, check=True,
                                       capture_output=True).stdout  # fmt: skip
                subprocess.run([docker, "load", "-q"], env=denv, input=saved, check=True,
                               stdout=subprocess.DEVNULL)  # fmt: skip
                builders["docker build -> dockerd (legacy)"] = ([docker, "build"], denv)
            times: dict[tuple[str, str], list[float]] = {}
            for round_number in range(args.n + 1):  # the first round warms caches
                for label, (argv, run_env) in builders.items():
                    tag = ["-t", "bench-build:latest", "-q", str(context)]
                    cold = timed([*argv, "--no-cache", *tag], run_env)
                    (context / "b.txt").write_text(f"{round_number} {label}\n")
                    rebuild = timed([*argv, *tag], run_env)
                    if round_number:
                        times.setdefault((label, "cold"), []).append(cold)
                        times.setdefault((label, "rebuild"), []).append(rebuild)
            medians = {key: statistics.median(values) for key, values in times.items()}
            for (label, kind), median in medians.items():
                fastest = min(times[(label, kind)])
                print(f"{label:34} {kind:8} median {median * 1000:7.1f} ms  "
                      f"min {fastest * 1000:7.1f} ms")  # fmt: skip
            if other:
                for kind in ("cold", "rebuild"):
                    ratio = (medians[("ketch build -> ketchd", kind)]
                             / medians[("docker build -> dockerd (legacy)", kind)])  # fmt: skip
                    print(f"ratio ketch/dockerd, {kind}: {ratio:.2f}")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
