"""`ketch build`'s pure parts: flags into POST /build's query, docker's ulimit and size
words, what counts as a tar on stdin; and the route's reading of X-Registry-Config."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile

import pytest

from ketch.api.build import registry_config
from ketch.cli.build import ENTRIES, build_query, human_size, parse_ulimit
from ketch.cli.buildcontext import is_archive
from ketch.cli.flags import UsageError, parse
from ketch.client.api import encode_params

COMMAND = ENTRIES["build"].command


def query_of(*argv: str, environ: dict[str, str] | None = None) -> dict[str, object]:
    return build_query(parse(COMMAND, [*argv, "."]), "Dockerfile", environ or {})


def test_defaults_send_only_what_docker_sends() -> None:
    assert query_of() == {"dockerfile": "Dockerfile", "version": "1"}
    assert encode_params(query_of()) == "?dockerfile=Dockerfile&version=1"


def test_flags_map_to_dockers_query() -> None:
    query = query_of(
        "-t", "a:1", "-t", "b", "--build-arg", "X=1", "--build-arg", "HOME_DIR",
        "--build-arg", "NOPE", "--label", "k=v", "--no-cache", "--pull", "-q",
        "--rm=false", "--force-rm", "--network", "none", "--add-host", "h=10.0.0.1",
        "--cache-from", "c1,c2", "--cache-from", "c3", "-m", "1g", "--memory-swap", "2g",
        "--shm-size", "64m", "-c", "10", "--cpu-period", "1000", "--cpu-quota", "500",
        "--cpuset-cpus", "1", "--cpuset-mems", "0", "--ulimit", "nproc=10",
        "--ulimit", "nproc=20:30", "--platform", "Linux/ARM64", "--target", "t",
        environ={"HOME_DIR": "/root"},
    )  # fmt: skip
    assert query == {
        "t": ("a:1", "b"), "extrahosts": ("h:10.0.0.1",), "q": True, "nocache": True,
        "rm": False, "forcerm": True, "pull": True, "cpusetcpus": "1", "networkmode": "none",
        "cpusetmems": "0", "cpushares": 10, "cpuquota": 500, "cpuperiod": 1000,
        "memory": 2**30, "memswap": 2 * 2**30, "shmsize": 64 * 2**20,
        "dockerfile": "Dockerfile", "target": "t",
        "ulimits": [{"Name": "nproc", "Hard": 30, "Soft": 20}],
        "buildargs": {"X": "1", "HOME_DIR": "/root", "NOPE": None},
        "labels": {"k": "v"}, "cachefrom": ["c1", "c2", "c3"], "platform": "linux/arm64",
        "version": "1",
    }  # fmt: skip
    text = encode_params(query)
    assert "t=a%3A1&t=b" in text  # repeated, as Go's url.Values writes a list
    assert "buildargs=%7B%22X%22%3A%221%22%2C" in text  # compact JSON
    assert query_of("--memory-swap", "-1")["memswap"] == -1


def test_default_platform_comes_from_the_environment() -> None:
    query = query_of(environ={"DOCKER_DEFAULT_PLATFORM": "linux/amd64"})
    assert query["platform"] == "linux/amd64"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("nofile", "invalid ulimit argument: nofile"),
        ("bogus=1", "invalid ulimit type: bogus"),
        ("nofile=a:b", "invalid ulimit argument: nofile=a:b"),
        ("nofile=20:10", "ulimit soft limit must be less than or equal to hard limit: 20 > 10"),
    ],
)
def test_ulimit_errors_are_dockers(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_ulimit(text)
    with pytest.raises(UsageError, match=f'invalid argument "{text}" for "--ulimit" flag'):
        parse(COMMAND, ["--ulimit", text, "."])


def test_bad_tags_and_hosts_are_usage_errors() -> None:
    with pytest.raises(UsageError, match='"-t, --tag" flag: invalid reference format'):
        parse(COMMAND, ["-t", "UPPER", "."])
    with pytest.raises(UsageError, match="bad format for add-host"):
        parse(COMMAND, ["--add-host", "nohost", "."])


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (999, "999B"), (2048, "2.048kB"), (7168, "7.168kB"), (1_500_000, "1.5MB"),
     (123_456_789, "123.5MB")],
)  # fmt: skip
def test_sizes_as_go_units_prints_them(size: int, text: str) -> None:
    assert human_size(size) == text


def test_what_is_a_tar_on_stdin() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        tar.addfile(info, io.BytesIO(b""))
    plain = buffer.getvalue()
    assert is_archive(plain[:1024])
    assert is_archive(gzip.compress(b"anything")[:1024])
    assert not is_archive(b"FROM busybox\nRUN echo hi\n")
    assert not is_archive(b"\0" * 1024)  # an empty archive's end blocks are no header
    assert not is_archive(b"FROM " + b"x" * 1019)


def test_registry_config_padded_or_not_and_junk() -> None:
    auths = {"r.example": {"username": "u", "password": "p", "auth": ""}}
    padded = base64.urlsafe_b64encode(json.dumps(auths).encode()).decode()
    expected = {"r.example": {"username": "u", "password": "p"}}
    assert registry_config(padded) == expected
    assert registry_config(padded.rstrip("=")) == expected
    assert registry_config("not base64!") == {}
    assert registry_config(base64.urlsafe_b64encode(b"[1]").decode()) == {}
    assert registry_config(None) == {}
