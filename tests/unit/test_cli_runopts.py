"""docker command lines -> the POST /containers/create request the docker CLI sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.cli import flags
from ketch.cli.exec import ENTRIES as EXEC_ENTRIES
from ketch.cli.exec import exec_request
from ketch.cli.run import ENTRIES, start_error_status
from ketch.cli.runopts import create_request, env_values, parse_ports

RUN = ENTRIES["run"].command


def request(argv: list[str]) -> tuple[dict, dict]:
    parsed = flags.parse(RUN, argv)
    return create_request(parsed, detach=parsed.detach)


def test_plain_run_attaches_stdout_and_stderr() -> None:
    query, body = request(["hello-world"])
    assert query == {"name": None, "platform": None}
    assert body["Image"] == "hello-world"
    assert body["Cmd"] is None
    assert (body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]) == (False, True, True)
    assert body["Tty"] is False and body["OpenStdin"] is False
    assert body["HostConfig"]["NetworkMode"] == "default"
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}


def test_interactive_tty() -> None:
    _, body = request(["-it", "--rm", "busybox", "sh", "-c", "echo hi"])
    assert body["Cmd"] == ["sh", "-c", "echo hi"]
    assert body["Tty"] and body["OpenStdin"] and body["StdinOnce"] and body["AttachStdin"]
    assert body["HostConfig"]["AutoRemove"] is True


def test_detached_attaches_nothing() -> None:
    _, body = request(["-d", "--name", "web", "redis"])
    assert (body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]) == (
        False,
        False,
        False,
    )


def test_attach_flag_picks_streams() -> None:
    _, body = request(["-a", "stderr", "busybox"])
    assert (body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]) == (False, False, True)
    with pytest.raises(flags.UsageError, match="cannot specify both --attach and --detach"):
        request(["-d", "-a", "stdout", "busybox"])


def test_resources_and_metadata() -> None:
    query, body = request(
        [
            "--name",
            "box",
            "-m",
            "512m",
            "--cpus",
            "1.5",
            "--pids-limit",
            "64",
            "--init",
            "-l",
            "a=1",
            "--label",
            "b",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "3",
            "--log-opt",
            "max-size=10k",
            "-w",
            "/srv",
            "-u",
            "1000:1000",
            "-h",
            "hostbox",
            "--platform",
            "linux/amd64",
            "--restart",
            "on-failure:3",
            "--network",
            "none",
            "busybox",
        ]
    )
    host = body["HostConfig"]
    assert query == {"name": "box", "platform": "linux/amd64"}
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["NanoCpus"] == 1_500_000_000
    assert host["PidsLimit"] == 64
    assert host["Init"] is True
    assert host["LogConfig"] == {"Type": "", "Config": {"max-size": "10k"}}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["NetworkMode"] == "none"
    assert body["Labels"] == {"a": "1", "b": ""}
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 3
    assert body["WorkingDir"] == "/srv" and body["User"] == "1000:1000"
    assert body["Hostname"] == "hostbox"


def test_entrypoint_override_and_reset() -> None:
    assert request(["--entrypoint", "/bin/sh", "x"])[1]["Entrypoint"] == ["/bin/sh"]
    assert request(["--entrypoint", "", "x"])[1]["Entrypoint"] == []
    assert request(["x"])[1]["Entrypoint"] is None


def test_ports_and_volumes() -> None:
    _, body = request(
        [
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1:5353:53/udp",
            "-p",
            "9000",
            "-v",
            "/host:/ctr:ro",
            "-v",
            "/anon",
            "-v",
            "named:/data",
            "x",
        ]
    )
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "9000/tcp": {}}
    assert body["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "9000/tcp": [{"HostIp": "", "HostPort": ""}],
    }
    assert body["HostConfig"]["Binds"] == ["/host:/ctr:ro", "named:/data"]
    assert body["Volumes"] == {"/anon": {}}


def test_port_ranges() -> None:
    exposed, bindings = parse_ports(["8000-8001:80-81"])
    assert bindings == {
        "80/tcp": [{"HostIp": "", "HostPort": "8000"}],
        "81/tcp": [{"HostIp": "", "HostPort": "8001"}],
    }
    assert set(exposed) == {"80/tcp", "81/tcp"}
    with pytest.raises(flags.UsageError):
        parse_ports(["99999"])


def test_env_from_flags_files_and_caller(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\n\nFROM_FILE=1\nPASSED\n")
    parsed = flags.parse(RUN, ["--env-file", str(env_file), "-e", "A=b", "-e", "HOME", "x"])
    assert env_values(["HOME", "MISSING"], {"HOME": "/root"}) == ["HOME=/root", "MISSING"]
    _, body = create_request(parsed)
    assert body["Env"][:3] == ["FROM_FILE=1", "PASSED", "A=b"]


def test_rm_conflicts_with_restart() -> None:
    with pytest.raises(flags.UsageError, match="--restart and --rm"):
        request(["--rm", "--restart", "always", "x"])


def test_security_opt_sends_a_seccomp_profile_file_as_its_content(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n')
    argv = ["--security-opt", f"seccomp={profile}", "--security-opt", "no-new-privileges", "x"]
    _, body = request(argv)
    assert body["HostConfig"]["SecurityOpt"] == [
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}',
        "no-new-privileges",
    ]
    for name in ("unconfined", "builtin"):
        _, body = request(["--security-opt", f"seccomp={name}", "x"])
        assert body["HostConfig"]["SecurityOpt"] == [f"seccomp={name}"]
    assert request(["x"])[1]["HostConfig"]["SecurityOpt"] is None
    with pytest.raises(flags.UsageError, match="opening seccomp profile"):
        request(["--security-opt", f"seccomp={tmp_path / 'missing.json'}", "x"])
    with pytest.raises(flags.UsageError, match="Invalid --security-opt"):
        request(["--security-opt", "seccomp", "x"])


def test_bad_memory_is_a_usage_error() -> None:
    with pytest.raises(flags.UsageError, match="--memory"):
        request(["-m", "lots", "x"])


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ('exec: "nope": executable file not found in $PATH', 127),
        ("exec /etc: no such file or directory", 127),
        ("exec /etc/passwd: permission denied", 126),
        ("cgroup: invalid memory limit", 125),
    ],
)
def test_start_error_statuses(message: str, status: int) -> None:
    assert start_error_status(message) == status


def test_exec_request() -> None:
    parsed = flags.parse(
        EXEC_ENTRIES["exec"].command,
        ["-it", "-e", "A=1", "-u", "nobody", "-w", "/tmp", "web", "sh", "-l"],
    )
    assert exec_request(parsed) == {
        "User": "nobody",
        "Privileged": False,
        "Tty": True,
        "AttachStdin": True,
        "AttachStdout": True,
        "AttachStderr": True,
        "Detach": False,
        "Env": ["A=1"],
        "WorkingDir": "/tmp",
        "Cmd": ["sh", "-l"],
    }
    detached = exec_request(flags.parse(EXEC_ENTRIES["exec"].command, ["-d", "web", "true"]))
    assert detached["Detach"] and not detached["AttachStdout"] and detached["Env"] is None
