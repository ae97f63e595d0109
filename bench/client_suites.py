"""Run real Docker clients' own test suites against ketchd and summarise them.

The clients' tests are the judge of compatibility: docker-py's
tests/integration (written for docker-py 7.2.0) and, optionally,
docker-compose 1.29.2's tests/integration and tests/acceptance. Their code is
not part of ketch: pass the path of a checkout of each (a `git archive` of
the release tag is enough).

    .venv/bin/python bench/client_suites.py --docker-py DIR [--compose DIR]  # as root

For each suite the script

- makes (or reuses) a venv of the suite's own: docker-py with its test extras
  (pytest 7.4.2, pytest-timeout), or docker-compose==1.29.2 from PyPI with
  its requirements-dev; `pip` needs PyPI for that step only;
- starts a registry of its own on 127.0.0.1, seeded offline with the images
  the suite pulls, and a ketchd of its own with that registry as its Docker
  Hub mirror. ketch's offline images stand in for the real ones: busybox is
  the host's busybox-static (one layer, an applet symlink per command);
  alpine is that busybox plus /etc/alpine-release and /etc/os-release (no
  apk, no musl); hello-world is ketch's generated static executable. Every
  tag the suites name is pushed, all as the same image;
- runs pytest with DOCKER_HOST at ketchd, a per-test timeout (--timeout)
  and a cap on the whole run (--total), recording each test as it ends;
- prints passed/failed/skipped/errors and the failing tests grouped by the
  first line of their error (ids and numbers in it blanked so alike errors
  group), and the tests known to need the internet;
- stops ketchd (with its shims, containers, mounts and cgroups) and the
  registry, and removes its temp dirs, also on failure or Ctrl-C.

Nothing but 127.0.0.1 is reached once the venvs exist, so tests that need
Docker Hub itself (a pull by a digest of the real image, plugins) fail; they
are listed under "needs the internet".
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ketch.testing import images
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import run_registry

BENCH = Path(__file__).resolve().parent
DEFAULT_VENVS = Path(tempfile.gettempdir()) / "ketch-client-suites"

# Tests that reach past 127.0.0.1 by design: Docker Hub content by digest,
# plugins from the Hub, remote build contexts.
NEEDS_INTERNET = {
    "tests/integration/models_images_test.py::ImageCollectionTest::test_pull_with_sha",
    "tests/integration/api_plugin_test.py",
    # a pull of a name the mirror lacks goes on to Docker Hub, for its 404
    "tests/integration/models_containers_test.py::ContainerCollectionTest"
    "::test_run_with_image_that_does_not_exist",
}


def alpine() -> images.TestImage:
    """busybox dressed as alpine: what tests read of alpine is its files' names."""
    release = b"3.10.9\n"
    os_release = (
        b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.10.9\nPRETTY_NAME="Alpine Linux v3.10"\n'
    )
    return images.extend(
        images.busybox(),
        "alpine",
        "3.10",
        [images.file("etc/alpine-release", release), images.file("etc/os-release", os_release),
         # alpine's own accounts that the suites name (docker-py execs as postgres)
         *images.passwd_entries([
             ("root", 0, 0, "/root", "/bin/sh"),
             ("user", 1000, 1000, "/home/user", "/bin/sh"),
             ("postgres", 70, 70, "/var/lib/postgresql", "/bin/sh"),
             ("nobody", 65534, 65534, "/", "/sbin/nologin"),
         ])],  # fmt: skip
        {"Cmd": ["/bin/sh"]},
    )


@dataclass
class Suite:
    name: str
    checkout: Path
    venv: Path
    install: Callable[[Suite, Path], None]
    pytest_args: list[str]
    seed: dict[str, tuple[Callable[[], images.TestImage], list[str]]]
    env: dict[str, str] = field(default_factory=dict)


def pip(venv: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *args],
        check=True, env=dict(os.environ, **(env or {})),
    )  # fmt: skip


def make_venv(venv: Path) -> bool:
    """Create `venv` unless it exists and works; True when it was created."""
    python = venv / "bin/python"
    if python.exists() and subprocess.run([str(python), "-c", "import pytest"]).returncode == 0:
        return False
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return True


def install_docker_py(suite: Suite, venv: Path) -> None:
    # A `git archive` has no git metadata for hatch-vcs: give it the version.
    pip(
        venv, f"{suite.checkout}[ssh,websockets]", "pytest==7.4.2", "pytest-timeout==2.1.0",
        env={"SETUPTOOLS_SCM_PRETEND_VERSION": os.environ.get("DOCKER_PY_VERSION", "7.2.0")},
    )  # fmt: skip


def install_compose(suite: Suite, venv: Path) -> None:
    # PyYAML 5.4.1 (compose 1.29.2 wants <6) has no wheel for new Pythons and
    # its sdist does not build with Cython 3.
    pip(venv, "cython<3", "wheel", "setuptools<70")
    pip(venv, "--no-build-isolation", "PyYAML==5.4.1")
    # compose 1.29.2 asks for docker>=5 without a ceiling; docker 7 dropped what it
    # calls (ssl_version), and docker 5 speaks http+docker, which requests 2.32 refuses.
    pip(venv, "docker-compose==1.29.2", "docker==5.0.3", "requests==2.31.0", "urllib3<2",
        "ddt==1.4.1", "mock==3.0.5", "pytest==7.4.2", "pytest-timeout==2.1.0",
        "gitpython")  # fmt: skip


def docker_py_suite(checkout: Path, venvs: Path, args: list[str]) -> Suite:
    return Suite(
        name="docker-py",
        checkout=checkout,
        venv=venvs / "docker-py",
        install=install_docker_py,
        pytest_args=args or ["tests/integration"],
        seed={
            "busybox": (images.busybox, ["latest"]),
            "alpine": (alpine, ["latest", "3.10"]),
            "hello-world": (images.hello_world, ["latest"]),
        },
    )


def compose_suite(checkout: Path, venvs: Path, args: list[str]) -> Suite:
    return Suite(
        name="compose",
        checkout=checkout,
        venv=venvs / "compose",
        install=install_compose,
        pytest_args=args or ["tests/integration", "tests/acceptance"],
        seed={
            "busybox": (images.busybox, ["latest", "1.31.0-uclibc", "1.27.2"]),
            "alpine": (alpine, ["latest", "3.10", "3.10.1", "3.12", "edge"]),
            "hello-world": (images.hello_world, ["latest"]),
        },
        # The acceptance tests run `docker-compose` from PATH: the venv's.
        env={"PATH": f"{venvs / 'compose' / 'bin'}:{os.environ.get('PATH', '')}"},
    )


# -- running -----------------------------------------------------------------


def seed_registry(
    url: str, seed: dict[str, tuple[Callable[[], images.TestImage], list[str]]]
) -> None:
    for name, (build, tags) in seed.items():
        for tag in tags:
            images.push_sync(build(), url, repo=f"library/{name}", tag=tag)


def run_pytest(
    suite: Suite, daemon: Daemon, report: Path, timeout: int, total: int, extra: list[str]
) -> tuple[int | None, float]:
    """pytest in the suite's checkout and venv; returns (exit code or None if capped, seconds)."""
    # A home and a client config of the run's own: no credentials or contexts of the
    # host's are read, and docker-py, finding no config file, would keep its contexts
    # in the working directory, the suite's checkout.
    home = report.parent / "home"
    config_dir = home / ".docker"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text("{}\n")
    env = dict(os.environ)
    env.update(suite.env)
    env.update(
        DOCKER_HOST=daemon.url,
        SUITE_REPORT=str(report),
        PYTHONPATH=str(BENCH),
        DOCKER_CONFIG=str(config_dir),
        HOME=str(home),
        PYTHONDONTWRITEBYTECODE="1",
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(proxy, None)
    argv = [
        str(suite.venv / "bin/python"), "-m", "pytest", "-p", "suite_reporter",
        "-p", "no:cacheprovider", "-q", "--tb=line", "-o", "addopts=",
        f"--timeout={timeout}", *extra, *suite.pytest_args,
    ]  # fmt: skip
    print(f"[{suite.name}] {' '.join(argv[1:])}", flush=True)
    start = time.monotonic()
    log = report.with_suffix(".log")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, cwd=suite.checkout, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            code: int | None = process.wait(timeout=total)
        except subprocess.TimeoutExpired:
            code = None
        except KeyboardInterrupt:
            code = None
        finally:
            _stop_group(process)
    return code, time.monotonic() - start


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- summary -----------------------------------------------------------------


@dataclass
class Result:
    nodeid: str
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed
    message: str = ""


def read_results(report: Path) -> list[Result]:
    """One result per test from the phase lines: a failed call is a failure,
    a failed setup or teardown an error, a skip in any phase a skip."""
    by_test: dict[str, Result] = {}
    if not report.exists():
        return []
    for line in report.read_text().splitlines():
        phase = json.loads(line)
        result = by_test.setdefault(phase["nodeid"], Result(phase["nodeid"], "passed"))
        outcome, when = phase["outcome"], phase["when"]
        if phase["xfail"]:
            result.outcome = "xfailed" if outcome == "skipped" else "xpassed"
        elif outcome == "failed":
            if result.outcome not in ("failed", "error"):
                result.outcome = "failed" if when == "call" else "error"
                result.message = phase["message"]
        elif outcome == "skipped":
            result.outcome, result.message = "skipped", phase["message"]
    return list(by_test.values())


ID_LIKE = re.compile(r"\b(?:sha256:)?[0-9a-f]{12,64}\b")
TEMP_PATH = re.compile(r"/tmp/[^\s'\"]+")
NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b(?! (?:Client|Server) Error)")
# docker-py's APIError: "404 Client Error for http+docker://localhost/v1.45/...: Not Found (...)"
CLIENT_URL = re.compile(r"(?:http\+docker|https?|unix|http\+unix)://[^\s]+?(?=:\s|\s|$)")


def error_key(message: str) -> str:
    """The first line of an error, with what differs between alike errors blanked."""
    first = next((line.strip() for line in message.splitlines() if line.strip()), "(no message)")
    first = CLIENT_URL.sub(lambda m: _url_shape(m.group(0)), first)
    first = ID_LIKE.sub("<id>", first)
    first = TEMP_PATH.sub("<tmp>", first)
    first = NUMBER.sub("N", first)
    return first[:200]


def _url_shape(url: str) -> str:
    """`http+docker://localhost/v1.45/containers/<id>/start?x=1` -> the
    endpoint's shape: `/containers/*/start`."""
    path = re.sub(r"^\w[\w+.-]*://[^/]+", "", url.split("?", 1)[0])
    path = re.sub(r"^/v\d+\.\d+", "", path)
    parts = path.strip("/").split("/")
    shaped = [parts[0], *("*" if i % 2 == 0 else p for i, p in enumerate(parts[1:]))]
    return "/" + "/".join(p for p in shaped if p)


def needs_internet(nodeid: str) -> bool:
    return any(nodeid == known or nodeid.startswith(known + "::") for known in NEEDS_INTERNET)


def summarise(name: str, results: list[Result], code: int | None, seconds: float) -> None:
    counts = collections.Counter(r.outcome for r in results)
    stopped = "stopped at the total cap" if code is None else f"pytest exit {code}"
    print(f"\n== {name}: {len(results)} tests in {seconds:.0f}s ({stopped})")
    kinds = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    print("   " + ", ".join(f"{k} {counts.get(k, 0)}" for k in kinds))
    bad = [r for r in results if r.outcome in ("failed", "error")]
    offline = [r for r in bad if needs_internet(r.nodeid)]
    groups: dict[str, list[Result]] = collections.defaultdict(list)
    for result in bad:
        if not needs_internet(result.nodeid):
            groups[error_key(result.message)].append(result)
    print(f"\n-- failures and errors by first line of the error ({len(groups)} groups)")
    for key, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"\n[{len(members)}] {key}")
        for result in sorted(members, key=lambda r: r.nodeid):
            print(f"    {result.outcome:6} {result.nodeid}")
    if offline:
        print(f"\n-- needs the internet ({len(offline)})")
        for result in offline:
            print(f"    {result.outcome:6} {result.nodeid}")
    skipped = collections.Counter(error_key(r.message) for r in results if r.outcome == "skipped")
    if skipped:
        print("\n-- skip reasons")
        for reason, n in skipped.most_common():
            print(f"    [{n}] {reason}")


def run_suite(suite: Suite, timeout: int, total: int, extra: list[str], keep: Path | None) -> None:
    if make_venv(suite.venv) or os.environ.get("SUITE_REINSTALL"):
        print(f"[{suite.name}] installing its test requirements into {suite.venv}", flush=True)
        try:
            suite.install(suite, suite.venv)
        except BaseException:
            shutil.rmtree(suite.venv, ignore_errors=True)  # not half a venv next time
            raise
    tmp = Path(tempfile.mkdtemp(prefix=f"ketch-suite-{suite.name}-"))
    daemon: Daemon | None = None
    try:
        with run_registry(tmp) as registry:
            seed_registry(registry.url, suite.seed)
            daemon = run_daemon(tmp, mirrors=[registry.url])
            report = tmp / f"{suite.name}.jsonl"
            code, seconds = run_pytest(suite, daemon, report, timeout, total, extra)
            results = read_results(report)
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                for path in (report, report.with_suffix(".log"), daemon.log_path):
                    if path.exists():
                        shutil.copy(path, keep / f"{suite.name}-{path.name}")
            summarise(suite.name, results, code, seconds)
    finally:
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docker-py", type=Path, help="a checkout of docker-py (7.2.0)")
    parser.add_argument("--compose", type=Path, help="a checkout of docker/compose (1.29.2)")
    parser.add_argument(
        "--venvs", type=Path, default=DEFAULT_VENVS,
        help=f"where the suites' venvs are kept between runs ({DEFAULT_VENVS})",
    )  # fmt: skip
    parser.add_argument("--timeout", type=int, default=60, help="seconds per test (60)")
    parser.add_argument("--total", type=int, default=1800, help="seconds per suite (1800)")
    parser.add_argument("--keep", type=Path, help="copy the results, pytest and ketchd logs here")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    parser.add_argument("tests", nargs="*", help="test paths/ids instead of the suite's default")
    args = parser.parse_args()
    if args.docker_py is None and args.compose is None:
        parser.error("give --docker-py DIR and/or --compose DIR")
    if os.geteuid() != 0:
        parser.error("run as root: ketchd needs namespaces, mounts and cgroups")
    extra = ["-k", args.keyword] if args.keyword else []
    suites = []
    if args.docker_py:
        suites.append(docker_py_suite(args.docker_py.resolve(), args.venvs, args.tests))
    if args.compose:
        suites.append(compose_suite(args.compose.resolve(), args.venvs, args.tests))
    for suite in suites:
        run_suite(suite, args.timeout, args.total, extra, args.keep)


if __name__ == "__main__":
    main()
