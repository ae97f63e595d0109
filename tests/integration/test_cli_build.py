"""`ketch build` and the real docker CLI's legacy `docker build` (DOCKER_BUILDKIT=0, and
docker 28 left to choose, without buildx) against a ketchd whose builder is the fake:
the tar each sends, the parameters, and what each prints and exits with."""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch.testing.commands import KETCH
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.fakebuilder import Records

pytestmark = pytest.mark.integration

IMAGE_ID = "sha256:" + "ab" * 32
MESSAGES = [
    {"stream": "Step 1/2 : FROM busybox\n"},
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Downloading", "progressDetail": {"current": 5, "total": 10},
     "progress": "[=====>     ]", "id": "0123456789ab"},
    {"status": "Pull complete", "progressDetail": {}, "id": "0123456789ab"},
    {"stream": " ---> 0123456789ab\n"},
    {"stream": "Step 2/2 : COPY . /app\n"},
    {"aux": {"ID": IMAGE_ID}},
    {"stream": "Successfully built abababababab\n"},
    {"stream": "Successfully tagged app:1\n"},
]  # fmt: skip
PRINTED = ("Step 1/2 : FROM busybox\nlatest: Pulling from library/busybox\n"
           "0123456789ab: Pull complete\n ---> 0123456789ab\nStep 2/2 : COPY . /app\n"
           "Successfully built abababababab\nSuccessfully tagged app:1\n")  # fmt: skip
CLIENTS = ["ketch", "docker-legacy", "docker-default"]


class Fake(Records):
    def __init__(self, directory: Path, daemon: Daemon) -> None:
        super().__init__(directory)
        self.daemon = daemon

    def members(self) -> dict[str, bytes]:
        """The context's files. Read as a stream, as dockerd's Go reader reads it: the docker
        CLI's tar lacks its end blocks when it adds a Dockerfile (its tar writer is closed
        after the pipe it writes to), and a stream reader takes that as the end."""
        found = {}
        with tarfile.open(fileobj=io.BytesIO(self.context()), mode="r|*") as tar:
            try:
                for member in tar:
                    data = tar.extractfile(member) if member.isreg() else None
                    found[member.name] = data.read() if data is not None else b""
            except tarfile.ReadError:
                pass
        return found


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fake]:
    directory = tmp_path_factory.mktemp("fakebuilder")
    daemon = run_daemon(tmp_path_factory.mktemp("ketchd"),
                        launcher=["-m", "ketch.testing.fakebuilder", str(directory)])  # fmt: skip
    try:
        yield Fake(directory, daemon)
    finally:
        daemon.stop()


@pytest.fixture(autouse=True)
def default_script(fake: Fake) -> None:
    fake.script(messages=MESSAGES)


def run(fake: Fake, client: str, args: list[str], cwd: Path, stdin: bytes | None = None,
        environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    dropped = ("DOCKER_BUILDKIT", "DOCKER_CONTEXT", "DOCKER_DEFAULT_PLATFORM")
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(DOCKER_HOST=fake.daemon.url, KETCH_HOST=fake.daemon.url,
               DOCKER_CONFIG=str(cwd / ".docker-config"), **(environ or {}))  # fmt: skip
    if client == "docker-legacy":
        env["DOCKER_BUILDKIT"] = "0"
    command = [KETCH] if client == "ketch" else ["docker"]
    return subprocess.run([*command, "build", *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, timeout=60)  # fmt: skip


def without_upload_line(stdout: bytes) -> str:
    text = stdout.decode()
    match = re.match(r"Sending build context to Docker daemon +[0-9.]+[kMG]?B\r\r\n", text)
    assert match, text
    return text[match.end():]


def project(tmp_path: Path) -> Path:
    context = tmp_path / "ctx"
    (context / "src" / "cache").mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM busybox\nCOPY . /app\n")
    (context / "src" / "main.py").write_text("print(1)\n")
    (context / "src" / "cache" / "x.pyc").write_bytes(b"\0")
    (context / "debug.log").write_text("noise\n")
    (context / "keep.log").write_text("kept\n")
    (context / "secret").mkdir()
    (context / "secret" / "key").write_text("k\n")
    # the Dockerfile and .dockerignore are excluded, and still sent, as docker sends them
    (context / ".dockerignore").write_text(
        "# comment\n*.log\n!keep.log\nsecret\n**/cache\nDockerfile\n.dockerignore\n")
    return context


@pytest.mark.parametrize("client", CLIENTS)
def test_a_directory_context_filtered_by_dockerignore(
    fake: Fake, client: str, tmp_path: Path
) -> None:
    context = project(tmp_path)
    result = run(fake, client, ["-t", "app:1", "."], context)
    assert result.returncode == 0, result.stderr
    assert without_upload_line(result.stdout) == PRINTED
    assert sorted(fake.members()) == [".dockerignore", "Dockerfile", "keep.log", "src",
                                      "src/main.py"]  # fmt: skip
    assert fake.members()["Dockerfile"] == b"FROM busybox\nCOPY . /app\n"
    options = fake.options()
    assert (options["dockerfile"], options["tags"]) == ("Dockerfile", ["app:1"])
    if client == "docker-legacy":
        assert b"BuildKit is currently disabled" in result.stderr
    elif client == "docker-default":  # no buildx here: docker 28 falls back, and says so
        assert b"Install the buildx component" in result.stderr
    else:
        assert result.stderr == b""


def test_the_upload_line_and_the_tar_match_dockers(fake: Fake, tmp_path: Path) -> None:
    context = project(tmp_path)
    shown = {}
    for client in ("ketch", "docker-legacy"):
        result = run(fake, client, ["."], context)
        assert result.returncode == 0, result.stderr
        shown[client] = result.stdout
        with tarfile.open(fileobj=io.BytesIO(fake.context())) as tar:
            members = [(m.name, m.mode, m.uid, m.gid, m.size) for m in tar]
        shown[client + " tar"] = repr(members).encode()
    assert shown["ketch"] == shown["docker-legacy"]
    assert shown["ketch tar"] == shown["docker-legacy tar"]


@pytest.mark.parametrize("client", CLIENTS)
def test_a_dockerfile_outside_the_context_goes_in_under_a_random_name(
    fake: Fake, client: str, tmp_path: Path
) -> None:
    project(tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "Dockerfile.dev").write_text("FROM busybox\nRUN echo dev\n")
    result = run(fake, client, ["-f", "other/Dockerfile.dev", "ctx"], tmp_path)
    assert result.returncode == 0, result.stderr
    name = fake.options()["dockerfile"]
    assert re.fullmatch(r"\.dockerfile\.[0-9a-f]{20}", name), name
    members = fake.members()
    assert members[name] == b"FROM busybox\nRUN echo dev\n"
    assert members[".dockerignore"].decode().endswith(f"\n{name}\n")
    # the context's own Dockerfile is not the build's: its .dockerignore line counts
    assert "Dockerfile" not in members and "keep.log" in members


@pytest.mark.parametrize("client", CLIENTS)
def test_the_dockerfile_from_stdin(fake: Fake, client: str, tmp_path: Path) -> None:
    context = project(tmp_path)
    result = run(fake, client, ["-f", "-", "."], context, stdin=b"FROM scratch\n")
    assert result.returncode == 0, result.stderr
    name = fake.options()["dockerfile"]
    assert name.startswith(".dockerfile.")
    assert fake.members()[name] == b"FROM scratch\n"


@pytest.mark.parametrize("client", CLIENTS)
def test_a_context_from_stdin(fake: Fake, client: str, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"FROM busybox\n"
        info = tarfile.TarInfo("build/Dockerfile.alt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    result = run(fake, client, ["-f", "build/Dockerfile.alt", "-"], tmp_path,
                 stdin=buffer.getvalue())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert fake.context() == buffer.getvalue()  # sent as it came, compressed
    assert fake.options()["dockerfile"] == "build/Dockerfile.alt"
    result = run(fake, client, ["-"], tmp_path, stdin=b"FROM busybox\nRUN true\n")
    assert result.returncode == 0, result.stderr
    assert fake.members() == {"Dockerfile": b"FROM busybox\nRUN true\n"}
    assert fake.options()["dockerfile"] == "Dockerfile"
    result = run(fake, client, ["-f", "x", "-"], tmp_path, stdin=b"FROM busybox\n")
    assert result.returncode == 1
    assert b"ambiguous Dockerfile source" in result.stderr


@pytest.mark.parametrize("client", CLIENTS)
def test_flags_become_the_builds_options(fake: Fake, client: str, tmp_path: Path) -> None:
    context = project(tmp_path)
    flags = [
        "-t", "app:1", "-t", "app:2", "--build-arg", "A=1", "--build-arg", "FROM_ENV",
        "--build-arg", "UNSET_ARG", "--target", "final", "--no-cache", "--pull",
        "--label", "team=core", "--label", "bare", "--network", "host",
        "--add-host", "db:10.0.0.2", "--platform", "linux/amd64", "--rm=false",
        "--force-rm", "--cache-from", "app:0,base", "--shm-size", "128m", "-m", "64m",
        "--memory-swap", "-1", "--cpu-shares", "512", "--cpu-period", "100000",
        "--cpu-quota", "50000", "--cpuset-cpus", "0-1", "--cpuset-mems", "0",
        "--ulimit", "nofile=1024:2048", ".",
    ]  # fmt: skip
    result = run(fake, client, flags, context, environ={"FROM_ENV": "from-env"})
    assert result.returncode == 0, result.stderr
    options: dict[str, Any] = fake.options()
    options.pop("registry_auths")
    assert options == {
        "dockerfile": "Dockerfile", "tags": ["app:1", "app:2"], "quiet": False,
        "no_cache": True, "pull": True, "remove": True, "force_remove": True,
        "build_args": {"A": "1", "FROM_ENV": "from-env", "UNSET_ARG": None},
        "labels": {"team": "core", "bare": ""}, "target": "final", "network_mode": "host",
        "extra_hosts": ["db:10.0.0.2"], "shm_size": 128 * 2**20, "memory": 64 * 2**20,
        "memory_swap": -1, "cpu_shares": 512, "cpu_period": 100000, "cpu_quota": 50000,
        "cpuset_cpus": "0-1", "cpuset_mems": "0",
        "ulimits": [{"Name": "nofile", "Hard": 2048, "Soft": 1024}],
        "platform": "linux/amd64", "cache_from": ["app:0", "base"],
    }  # fmt: skip


@pytest.mark.parametrize("client", CLIENTS)
def test_a_failed_step_exits_with_its_code(fake: Fake, client: str, tmp_path: Path) -> None:
    message = "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    failure = {"errorDetail": {"code": 3, "message": message}, "error": message}
    fake.script(messages=[{"stream": "Step 1/1 : RUN exit 3\n"}, failure])
    result = run(fake, client, ["."], project(tmp_path))
    assert result.returncode == 3
    assert without_upload_line(result.stdout) == "Step 1/1 : RUN exit 3\n"
    assert result.stderr.decode().endswith(message + "\n")
    fake.script(messages=[{"stream": "Step 1/1 : FROM nothing\n"}], fail="pull access denied")
    result = run(fake, client, ["."], project(tmp_path / "again"))
    assert result.returncode == 1
    assert result.stderr.decode().endswith("pull access denied\n")


@pytest.mark.parametrize("client", CLIENTS)
def test_an_error_before_the_build_is_the_daemons(fake: Fake, client: str, tmp_path: Path) -> None:
    fake.script(fail="dockerfile parse error on line 1: unknown instruction: FRM", status=400)
    result = run(fake, client, ["."], project(tmp_path))
    assert result.returncode == 1
    assert result.stderr.decode().endswith("Error response from daemon: dockerfile parse error "
                                           "on line 1: unknown instruction: FRM\n")  # fmt: skip


@pytest.mark.parametrize("client", CLIENTS)
def test_quiet_prints_the_image_id_and_iidfile_holds_it(
    fake: Fake, client: str, tmp_path: Path
) -> None:
    context = project(tmp_path)
    result = run(fake, client, ["-q", "--iidfile", str(tmp_path / "iid"), "."], context)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (IMAGE_ID + "\n").encode()
    assert (tmp_path / "iid").read_text() == IMAGE_ID + "\n"  # docker keeps -q's newline
    result = run(fake, client, ["--iidfile", str(tmp_path / "iid2"), "."], context)
    assert (tmp_path / "iid2").read_text() == IMAGE_ID


@pytest.mark.parametrize("client", CLIENTS)
def test_quiet_failure_shows_what_was_held_back(fake: Fake, client: str, tmp_path: Path) -> None:
    fake.script(messages=[{"stream": "Step 1/1 : RUN false\n"}], fail="it broke")
    result = run(fake, client, ["-q", "."], project(tmp_path))
    assert result.returncode == 1
    assert result.stdout == b""
    assert "Step 1/1 : RUN false\n" in result.stderr.decode()
    assert result.stderr.decode().endswith("it broke\n")


def test_ketch_refuses_what_it_cannot_send(fake: Fake, tmp_path: Path) -> None:
    result = run(fake, "ketch", ["https://example.com/context.tar"], tmp_path)
    assert result.returncode == 1
    assert b"remote build contexts are not supported" in result.stderr
    result = run(fake, "ketch", ["no-such-dir"], tmp_path)
    assert (result.returncode, result.stderr) == (
        1, b'unable to prepare context: path "no-such-dir" not found\n')  # fmt: skip
    result = run(fake, "ketch", ["-f", "-", "-"], tmp_path, stdin=b"")
    assert b"can't use stdin for both build context and dockerfile" in result.stderr
    result = run(fake, "ketch", ["-t", "Bad", "."], tmp_path)
    assert result.returncode == 125
    assert b'invalid argument "Bad" for "-t, --tag" flag' in result.stderr
