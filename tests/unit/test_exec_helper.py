"""The exec helper's JSON-free parts: its status line encoder, its request, the wait for the
monitor's cgroup move."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ketch.runtime.process import CGROUP_JOINED, await_cgroup_join, json_line
from ketch.shim.exechelper import dump_process, parse_request, process_of, read_process_file

AWKWARD = [
    "",
    "plain",
    'quote " and backslash \\ and slash /',
    "\n\r\t\b\f\x00\x01\x1f\x7f",
    "é ☃ \u2028 \ufeff",
    "\U0001d11e astral",
    "lone \udc80 and \ud800 surrogates",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_json_line_writes_what_json_dumps_writes(text: str) -> None:
    message = {"error": text, "exit_code": 126}
    assert json_line(message) == json.dumps(message) + "\n"
    assert json.loads(json_line(message)) == message


def test_json_line_writes_bools_ints_and_keys_as_json() -> None:
    message = {"ready": True, "done": False, "n": -3, "ké\n": "v"}
    assert json_line(message) == json.dumps(message) + "\n"


def test_request_items_split_on_nul_and_keep_undecodable_bytes() -> None:
    data = b"init_pid=7\0arg=sh\0arg=a\nb=c\0arg=\0arg=\xff\0env=V=x\0tty=1\0"
    settings = parse_request(data)
    assert settings == {
        "init_pid": ["7"],
        "arg": ["sh", "a\nb=c", "", "\udcff"],
        "env": ["V=x"],
        "tty": ["1"],
    }
    assert os.fsencode(settings["arg"][3]) == b"\xff"  # execve passes the byte on
    assert parse_request(b"") == {}


@pytest.mark.parametrize("data", [b"arg=cut", b"no-equals\0"])
def test_a_malformed_request_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_request(data)


def test_process_of_takes_the_execs_fields_over_the_containers() -> None:
    container = {
        "args": ["sleep", "1"],
        "env": ["PATH=/bin", "A=1"],
        "cwd": "/srv",
        "terminal": True,
        "user": {"uid": 5, "gid": 5},
        "capabilities": {"bounding": ["CAP_CHOWN"]},
    }
    plain = process_of(container, {"arg": ["true"], "tty": ["0"], "privileged": ["0"]})
    assert plain == dict(container, args=["true"], terminal=False)
    settings = {"arg": ["sh"], "env": ["B=2"], "cwd": ["/tmp"], "tty": ["1"], "privileged": ["1"]}
    own = process_of(container, settings)
    assert (own["args"], own["env"], own["cwd"], own["terminal"]) == (["sh"], ["B=2"], "/tmp", True)
    assert "CAP_SYS_ADMIN" in own["capabilities"]["effective"]
    assert container["capabilities"] == {"bounding": ["CAP_CHOWN"]}  # the container's unchanged


def test_the_process_file_round_trips(tmp_path: Path) -> None:
    process = {"args": ["a"], "user": {"uid": 0}, "rlimits": [{"type": "RLIMIT_NOFILE"}],
               "noNewPrivileges": True, "oomScoreAdj": None}  # fmt: skip
    (tmp_path / "p").write_bytes(dump_process(process))
    assert read_process_file(str(tmp_path / "p")) == process
    (tmp_path / "q").write_bytes(dump_process([1]))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        read_process_file(str(tmp_path / "q"))


def _joined_with(reply: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, reply)
    os.close(write_end)
    return read_end


def test_the_cgroup_wait_returns_once_joined() -> None:
    await_cgroup_join(_joined_with(CGROUP_JOINED))


def test_a_failed_move_raises_what_open_and_write_would_have(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone" / "cgroup.procs")
    with pytest.raises(OSError) as opened:
        open(missing, "w")
    with pytest.raises(OSError) as reported:
        await_cgroup_join(_joined_with(f"2 {missing}".encode()))
    assert str(reported.value) == str(opened.value)
    assert reported.value.errno == 2 and reported.value.filename == missing
    with pytest.raises(OSError) as written:
        await_cgroup_join(_joined_with(b"28"))
    assert str(written.value) == "[Errno 28] No space left on device"


def test_a_monitor_gone_before_the_move_is_an_error() -> None:
    with pytest.raises(OSError, match="did not move"):
        await_cgroup_join(_joined_with(b""))
