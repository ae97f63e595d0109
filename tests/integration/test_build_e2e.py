"""Building images for real through ketchd: the ketch CLI, the docker 28 CLI (legacy
builder) and docker-py, with RUN steps in real containers and the result run."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import docker
import pytest

from ketch.testing.commands import docker as docker_cli
from ketch.testing.commands import ketch, unique
from ketch.testing.daemon import Daemon
from ketch.testing.registry import RegistryServer

pytestmark = pytest.mark.integration

MULTI_STAGE = """\
# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS builder
ARG GREETING=hello
WORKDIR /src
COPY greeting.txt ./
RUN echo "$GREETING from $(cat greeting.txt)" > /src/out.txt && \\
    rm greeting.txt

FROM busybox
LABEL org.example.role=demo
ENV APP_HOME=/app
WORKDIR $APP_HOME
COPY --from=builder /src/out.txt message.txt
RUN echo 'app:x:1234:1234::/app:/bin/sh' >> /etc/passwd && chown app message.txt
USER app
EXPOSE 8080/tcp
HEALTHCHECK --interval=5s --timeout=2s --retries=2 CMD test -f message.txt
CMD ["cat", "message.txt"]
"""


def _context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    context = tmp_path / unique("ctx")
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(text)
    return context


def _text(result: object) -> str:
    out = getattr(result, "stdout", b"") + getattr(result, "stderr", b"")
    return out.decode(errors="replace")


def test_ketch_build_multi_stage_runs_and_is_a_proper_image(
    env: dict[str, str], docker_env: dict[str, str], tmp_path: Path
) -> None:
    context = _context(tmp_path, MULTI_STAGE, {"greeting.txt": "the context\n"})
    tag = f"{unique('app')}:1"
    built = ketch(env, "build", "-t", tag, "--build-arg", "GREETING=hi", str(context),
                  timeout=120)  # fmt: skip
    assert built.returncode == 0, _text(built)
    out = built.stdout.decode()
    assert "Step 1/" in out and "FROM ${BASE} AS builder" in out
    assert " ---> Running in " in out
    assert f"Successfully tagged {tag}" in out
    run = ketch(env, "run", "--rm", tag)
    assert run.stdout == b"hi from the context\n", _text(run)
    view = json.loads(ketch(env, "inspect", tag).stdout)[0]
    config = view["Config"]
    assert config["User"] == "app" and config["WorkingDir"] == "/app"
    assert config["Cmd"] == ["cat", "message.txt"]
    assert "APP_HOME=/app" in config["Env"]
    assert config["Labels"] == {"org.example.role": "demo"}
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f message.txt"]
    assert config["Healthcheck"]["Interval"] == 5_000_000_000
    owner = ketch(env, "run", "--rm", tag, "stat", "-c", "%u %n", "message.txt")
    assert owner.stdout == b"1234 message.txt\n"
    history = docker_cli(docker_env, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
    created_by = history.stdout.decode().splitlines()
    assert created_by[0] == '/bin/sh -c #(nop)  CMD ["cat" "message.txt"]', created_by
    assert '/bin/sh -c #(nop)  USER app' in created_by


def test_a_rebuild_uses_the_cache_until_a_copied_file_changes(
    env: dict[str, str], tmp_path: Path
) -> None:
    dockerfile = "FROM busybox\nRUN echo one > /one\nCOPY data.txt /data.txt\nRUN cat /data.txt\n"
    context = _context(tmp_path, dockerfile, {"data.txt": "v1\n"})
    tag = f"{unique('cache')}:1"
    first = ketch(env, "build", "-q", "-t", tag, str(context), timeout=120)
    assert first.returncode == 0, _text(first)
    again = ketch(env, "build", "-t", tag, str(context), timeout=120)
    assert again.returncode == 0, _text(again)
    assert again.stdout.decode().count("---> Using cache") == 3
    short_id = first.stdout.decode().strip().removeprefix("sha256:")[:12]
    assert f"Successfully built {short_id}" in again.stdout.decode()
    (context / "data.txt").write_text("v2\n")
    changed = ketch(env, "build", "-t", tag, str(context), timeout=120)
    assert changed.returncode == 0, _text(changed)
    assert changed.stdout.decode().count("---> Using cache") == 1  # the RUN before the COPY
    assert ketch(env, "run", "--rm", tag, "cat", "/data.txt").stdout == b"v2\n"
    fresh = ketch(env, "build", "--no-cache", "-t", tag, str(context), timeout=120)
    assert "Using cache" not in fresh.stdout.decode()
    # With --cache-from, only those images' steps are reused, as dockerd's legacy builder.
    named = ketch(env, "build", "--cache-from", tag, "-t", tag, str(context), timeout=120)
    assert named.stdout.decode().count("---> Using cache") == 3, _text(named)
    elsewhere = ketch(env, "build", "--cache-from", "no-such-image", str(context), timeout=120)
    assert elsewhere.returncode == 0 and "Using cache" not in elsewhere.stdout.decode()


def test_a_failing_run_leaves_no_tag_and_no_running_container(
    env: dict[str, str], tmp_path: Path
) -> None:
    context = _context(tmp_path, "FROM busybox\nRUN echo before\nRUN exit 3\nCMD true\n")
    tag = f"{unique('broken')}:1"
    before = ketch(env, "ps", "-q").stdout
    failed = ketch(env, "build", "-t", tag, str(context), timeout=120)
    assert failed.returncode == 3, _text(failed)
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in _text(failed)
    assert ketch(env, "inspect", tag).returncode != 0
    assert ketch(env, "ps", "-q").stdout == before


def test_a_dockerfile_error_names_the_line(env: dict[str, str], tmp_path: Path) -> None:
    context = _context(tmp_path, "FROM busybox\nRUNN echo\n")
    failed = ketch(env, "build", str(context), timeout=60)
    assert failed.returncode != 0
    assert "unknown instruction: RUNN" in _text(failed).lower().replace("runn", "RUNN")


def test_target_build_args_add_of_a_tar_and_dockerignore(
    env: dict[str, str], tmp_path: Path
) -> None:
    dockerfile = (
        "FROM busybox AS base\nARG FLAVOUR=plain SECOND=two\nRUN echo $FLAVOUR $SECOND > /flavour\n"
        "ADD bundle.tar /opt/\nCOPY . /ctx/\n"
        "FROM base AS never\nRUN exit 1\n"
    )
    context = _context(tmp_path, dockerfile, {".dockerignore": "secret.txt\n",
                                              "secret.txt": "no", "kept.txt": "yes"})  # fmt: skip
    with tarfile.open(context / "bundle.tar", "w") as tar:
        data = b"unpacked\n"
        info = tarfile.TarInfo("inner/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tag = f"{unique('target')}:1"
    built = ketch(env, "build", "--target", "base", "--build-arg", "FLAVOUR=spicy",
                  "-t", tag, str(context), timeout=120)  # fmt: skip
    assert built.returncode == 0, _text(built)
    shown = ketch(env, "run", "--rm", tag, "sh", "-c",
                  "cat /flavour /opt/inner/file.txt; ls /ctx")  # fmt: skip
    lines = shown.stdout.decode().split()
    assert lines[:3] == ["spicy", "two", "unpacked"]
    assert "kept.txt" in lines and "secret.txt" not in lines


def test_the_docker_cli_builds_with_the_legacy_builder(
    docker_env: dict[str, str], tmp_path: Path
) -> None:
    context = _context(tmp_path, MULTI_STAGE, {"greeting.txt": "docker\n"})
    tag = f"{unique('dk')}:1"
    legacy = dict(docker_env, DOCKER_BUILDKIT="0")
    built = docker_cli(legacy, "build", "-t", tag, str(context), timeout=120)
    assert built.returncode == 0, _text(built)
    assert f"Successfully tagged {tag}" in built.stdout.decode()
    assert docker_cli(docker_env, "run", "--rm", tag).stdout == b"hello from docker\n"
    # Without the variable docker 28 (no buildx here) falls back to the same API.
    plain = docker_cli(docker_env, "build", "-q", "-f", "-", str(context),
                       input=b"FROM busybox\nRUN echo stdin > /s\n", timeout=120)  # fmt: skip
    assert plain.returncode == 0, _text(plain)
    image_id = plain.stdout.decode().strip()
    assert image_id.startswith("sha256:")
    assert docker_cli(docker_env, "run", "--rm", image_id, "cat", "/s").stdout == b"stdin\n"


def test_docker_py_builds_and_streams(client: docker.DockerClient) -> None:
    dockerfile = io.BytesIO(b"FROM busybox\nRUN echo from-sdk > /f\nCMD [\"cat\", \"/f\"]\n")
    tag = f"{unique('sdk')}:1"
    image, logs = client.images.build(fileobj=dockerfile, tag=tag, rm=True)
    assert any("Step 2/3" in (chunk.get("stream") or "") for chunk in logs)
    assert tag in image.tags
    assert client.containers.run(tag, remove=True) == b"from-sdk\n"
    with pytest.raises(docker.errors.BuildError) as failed:
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN false\n"))
    assert "returned a non-zero code: 1" in str(failed.value)


def test_a_built_image_is_pushed_and_pulled_back_whole(
    docker_env: dict[str, str], tmp_path: Path, hub_mirror: RegistryServer
) -> None:
    context = _context(tmp_path, "FROM busybox\nRUN echo pushed > /p\nCMD [\"cat\", \"/p\"]\n")
    tag = f"{hub_mirror.host_port}/built/{unique('push')}:1"
    assert docker_cli(docker_env, "build", "-q", "-t", tag, str(context),
                      timeout=120).returncode == 0  # fmt: skip
    pushed = docker_cli(docker_env, "push", tag, timeout=120)
    assert pushed.returncode == 0, _text(pushed)
    assert docker_cli(docker_env, "rmi", tag).returncode == 0
    pulled = docker_cli(docker_env, "pull", tag, timeout=120)
    assert pulled.returncode == 0, _text(pulled)
    assert docker_cli(docker_env, "run", "--rm", tag).stdout == b"pushed\n"


def test_a_built_image_keeps_its_last_steps_container_config_for_old_clients(
    ketchd: Daemon, tmp_path: Path
) -> None:
    # compose 1.29 reads an image's ContainerConfig: its build args in the last RUN's Cmd,
    # and the volumes the image declares.
    dockerfile = "FROM busybox\nARG build_version\nVOLUME /data\nRUN echo $build_version > /v\n"
    context = _context(tmp_path, dockerfile)
    old = docker.APIClient(base_url=ketchd.url, version="1.38", timeout=60)
    image_id = None
    for chunk in old.build(path=str(context), buildargs={"build_version": "1"}, decode=True):
        image_id = (chunk.get("aux") or {}).get("ID", image_id)
    assert image_id
    config = old.inspect_image(image_id)["ContainerConfig"]
    assert config["Cmd"] == ["|1", "build_version=1", "/bin/sh", "-c",
                             "echo $build_version > /v"]  # fmt: skip
    assert config["Volumes"] == {"/data": {}}
