"""Pull and push of a large image: ketch against skopeo and, when asked, dockerd.

Builds the image offline (one large layer of random, incompressible bytes plus a
few small layers, all gzip as Docker pushes them), starts its own registry (the
distribution project's server) and ketchd, then times, round-robin, N runs of:

- pull: `ketch pull` with the image removed from ketchd before each run;
  `skopeo copy docker://... dir:` (download and verify only, no unpacking) into an
  empty directory; with BENCH_DOCKER_HOST, `docker pull` with the image removed
  from that dockerd first;
- push: `ketch push` to an empty registry (a fresh one per run); with
  BENCH_DOCKER_HOST, `docker push` to an empty registry the same way; and
  `skopeo copy dir: docker://...` for reference.

It prints each one's median, the spread (min-max) and ratios against ketch.
With `--baseline-src DIR` (another checkout's `src`, e.g. from `git archive`), a
second ketchd runs that code and its pull and push are timed in the same rounds:
a before/after comparison that the machine's load shifts alike.

    .venv/bin/python bench/pull_push.py [-n 5] [--size-mb 300]    # as root

Unpacking creates files, so where the roots are matters: on some hosts creating a
file under /tmp costs several times what it does under /var/lib (`--workdir`).

A dockerd to compare with (it must treat the registry as insecure; loopback is):

    BENCH_DOCKERD_ROOT=/tmp/ketch-pull-dockerd bash bench/dockerd.sh

The functions here (`build_large_image`, `measure_pull`, `measure_push`, ...) are
meant to be imported by other benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ketch.testing import images
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import RegistryServer, run_registry

LARGE_LAYER_MB = 300
SMALL_LAYERS = 4
REPO = "bench/large"
TAG = "latest"
KETCH = shutil.which("ketch") or str(Path(__file__).parents[1] / ".venv/bin/ketch")
DOCKER = shutil.which("docker") or "docker"
SKOPEO = shutil.which("skopeo") or "skopeo"

Timings = dict[str, list[float]]


def build_large_image(size_mb: int = LARGE_LAYER_MB, small_layers: int = SMALL_LAYERS,
                      repo: str = REPO, tag: str = TAG) -> images.TestImage:  # fmt: skip
    """An image of one `size_mb` MiB layer of random bytes (one file) under
    `small_layers` small ones (a few hundred small text files each)."""
    big = images.layer_tar([images.file("data/random.bin", os.urandom(size_mb << 20))])
    tars = [big]
    for n in range(small_layers):
        entries = [
            images.file(f"etc/small{n}/file{i}.txt", f"layer {n} file {i}\n".encode() * 200)
            for i in range(200)
        ]
        tars.append(images.layer_tar(entries))
    history = ["ADD random.bin /data/"] + [f"ADD small{n} /etc/" for n in range(small_layers)]
    return images.make_image(repo, tag, tars, {"Cmd": ["sh"]}, history)


def seed(image: images.TestImage, registry: RegistryServer) -> str:
    """Put `image` into `registry`; returns the reference to pull it by."""
    images.push_sync(image, registry.url, repo=image.repo, tag=image.tag)
    return f"{registry.host_port}/{image.repo}:{image.tag}"


def run_quiet(argv: list[str], env: dict[str, str] | None = None, check: bool = True) -> None:
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()}")


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    run_quiet(argv, env)
    return time.perf_counter() - start


def ketch_env(daemon: Daemon, config_dir: Path) -> dict[str, str]:
    return dict(os.environ, KETCH_HOST=daemon.url, DOCKER_HOST=daemon.url,
                DOCKER_CONFIG=str(config_dir))  # fmt: skip


def docker_env(host: str, config_dir: Path) -> dict[str, str]:
    return dict(os.environ, DOCKER_HOST=host, DOCKER_CONFIG=str(config_dir))


# -- one measurement each ------------------------------------------------------


def measure_pull(ref: str, env: dict[str, str], cli: str = KETCH) -> float:
    """Seconds for `<cli> pull ref` with the image removed first (ketch or docker CLI)."""
    run_quiet([cli, "rmi", "-f", ref], env, check=False)
    return timed([cli, "pull", "-q", ref], env)


def measure_skopeo_pull(ref: str, scratch: Path) -> float:
    """Seconds for skopeo to download and verify `ref` into an empty directory."""
    target = scratch / "skopeo-dir"
    shutil.rmtree(target, ignore_errors=True)
    try:
        return timed([SKOPEO, "copy", "-q", "--src-tls-verify=false",
                      f"docker://{ref}", f"dir:{target}"])  # fmt: skip
    finally:
        shutil.rmtree(target, ignore_errors=True)


def measure_push(image_ref: str, scratch: Path, env: dict[str, str], cli: str = KETCH) -> float:
    """Seconds for `<cli> push` of the local `image_ref` to a registry started empty for it."""
    with run_registry(scratch) as registry:
        target = f"{registry.host_port}/{REPO}:{TAG}"
        run_quiet([cli, "tag", image_ref, target], env)
        try:
            return timed([cli, "push", "-q", target], env)
        finally:
            run_quiet([cli, "rmi", target], env, check=False)


def measure_skopeo_push(source_dir: Path, scratch: Path) -> float:
    """Seconds for skopeo to upload an image from a `dir:` copy to an empty registry."""
    with run_registry(scratch) as registry:
        return timed([SKOPEO, "copy", "-q", "--dest-tls-verify=false", f"dir:{source_dir}",
                      f"docker://{registry.host_port}/{REPO}:{TAG}"])  # fmt: skip


# -- the whole run --------------------------------------------------------------


def round_robin(measures: dict[str, Callable[[], float]], runs: int, warmup: int = 1) -> Timings:
    """Each measure once per round, in turn, `runs` rounds after `warmup` untimed ones."""
    found: Timings = {label: [] for label in measures}
    for round_number in range(warmup + runs):
        for label, measure in measures.items():
            seconds = measure()
            if round_number >= warmup:
                found[label].append(seconds)
    return found


def summary(times: Timings, reference: str) -> list[str]:
    lines = []
    base = statistics.median(times[reference])
    for label, values in times.items():
        median = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        ratio = f"{base / median:.2f}x" if label != reference else "     "
        lines.append(f"  {label:34} median {median:6.2f} s  [{spread}]  ketch/this {ratio}")
    return lines


def launcher_for(src: Path) -> list[str]:
    """Python arguments that run ketchd from the source tree `src` instead of this one."""
    code = (f"import sys, runpy; sys.path.insert(0, {str(src)!r}); "
            "runpy.run_module('ketch.daemon', run_name='__main__')")  # fmt: skip
    return ["-c", code]


@contextlib.contextmanager
def running_daemon(tmp: Path, src: Path | None = None) -> Iterator[Daemon]:
    """A ketchd on roots under `tmp`, of this tree or of the source tree `src`."""
    tmp.mkdir(parents=True, exist_ok=True)
    daemon = run_daemon(tmp, launcher=launcher_for(src) if src else None)
    try:
        yield daemon
    finally:
        daemon.stop()


@contextlib.contextmanager
def bench_setup(tmp: Path, size_mb: int) -> Iterator[tuple[RegistryServer, Daemon, str]]:
    """A registry holding the large image and a ketchd to pull it into."""
    image = build_large_image(size_mb)
    with run_registry(tmp) as registry:
        ref = seed(image, registry)
        with running_daemon(tmp) as daemon:
            yield registry, daemon, ref


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=LARGE_LAYER_MB)
    parser.add_argument("--only", choices=["pull", "push"], default=None)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the registry's and ketchd's roots go")  # fmt: skip
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="another source tree's src/ to run a second ketchd from")  # fmt: skip
    args = parser.parse_args()
    other = os.environ.get("BENCH_DOCKER_HOST")
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="ketch-bench-pull-",
                                                                  dir=args.workdir))  # fmt: skip
        tmp = Path(workdir)
        _registry, daemon, ref = stack.enter_context(bench_setup(tmp, args.size_mb))
        kenv = ketch_env(daemon, tmp / "ketch-config")
        denv = docker_env(other, tmp / "docker-config") if other else {}
        benv: dict[str, str] = {}
        if args.baseline_src:
            baseline = stack.enter_context(running_daemon(tmp / "baseline", args.baseline_src))
            benv = ketch_env(baseline, tmp / "ketch-config")
        if args.only != "push":
            pulls: dict[str, Callable[[], float]] = {
                "ketch pull": lambda: measure_pull(ref, kenv),
                "skopeo copy -> dir:": lambda: measure_skopeo_pull(ref, tmp),
            }
            if benv:
                pulls["ketch pull (baseline)"] = lambda: measure_pull(ref, benv)
            if other:
                pulls["docker pull"] = lambda: measure_pull(ref, denv, DOCKER)
            times = round_robin(pulls, args.n)
            print(f"pull of {ref} ({args.size_mb} MiB + {SMALL_LAYERS} small layers):")
            print("\n".join(summary(times, "ketch pull")))
        if args.only != "pull":
            run_quiet([KETCH, "pull", "-q", ref], kenv)
            if benv:
                run_quiet([KETCH, "pull", "-q", ref], benv)
            source_dir = tmp / "push-source"
            run_quiet([SKOPEO, "copy", "-q", "--src-tls-verify=false",
                       f"docker://{ref}", f"dir:{source_dir}"])  # fmt: skip
            pushes: dict[str, Callable[[], float]] = {
                "ketch push": lambda: measure_push(ref, tmp, kenv),
                "skopeo copy dir: ->": lambda: measure_skopeo_push(source_dir, tmp),
            }
            if benv:
                pushes["ketch push (baseline)"] = lambda: measure_push(ref, tmp, benv)
            if other:
                run_quiet([DOCKER, "pull", "-q", ref], denv)
                pushes["docker push"] = lambda: measure_push(ref, tmp, denv, DOCKER)
            times = round_robin(pushes, args.n)
            print(f"push of {ref} to an empty registry:")
            print("\n".join(summary(times, "ketch push")))
            if other:
                run_quiet([DOCKER, "rmi", "-f", ref], denv, check=False)


if __name__ == "__main__":
    main()
