"""The first program of a `docker exec` process, run by ketch-monitor.

The monitor forks the exec into the container's PID namespace (so it is the
monitor's own child, reaped there) and runs this with the exec's stdio on fds
0-2, its status pipe on fd 3 (launch.py's protocol: one JSON line on error, end
of file once the command is exec'd), on fd 4 what to run and on fd 5 word of its
move into the container's cgroup, which the monitor makes while this starts. What
to run is `key=value` items each ended by a NUL: init_pid, process_file (the
container's runtime-spec process, marshalled by the shim at setup), seccomp_file,
and the exec's own user, cwd, tty, privileged, an `arg` per argument and an `env`
per variable. From here on it is exec_process, as for ketch-runtime exec: the other
namespaces, the cgroup, the user, capabilities, seccomp, env and cwd, then execve.

Its imports are its start-up time, paid by every exec: runtime/process.py, not
runtime/init.py with the container init's mounts, seccomp compiler and cgroup code,
nor json (~7 ms of re and enum); tests/unit/test_forkserver_imports.py pins them.
"""

from __future__ import annotations

import marshal
import os

from ketch.runtime.caps import CAPABILITIES
from ketch.runtime.process import exec_process, fail, open_namespaces

TYPE_CHECKING = False  # typing (with re) would be ~10 ms more of every exec
if TYPE_CHECKING:
    from typing import Any, NoReturn

STATUS_FD = 3
REQUEST_FD = 4
CGROUP_JOINED_FD = 5


def parse_request(data: bytes) -> dict[str, list[str]]:
    """Each key's values, in order; undecodable bytes kept as os.fsdecode keeps them, so the
    execve passes them on unchanged."""
    if data and not data.endswith(b"\0"):
        raise ValueError("the exec request is cut short")
    settings: dict[str, list[str]] = {}
    for item in data.split(b"\0")[:-1]:
        key, separator, value = item.partition(b"=")
        if not separator:
            raise ValueError(f"an exec request item without '=': {item!r}")
        settings.setdefault(key.decode(), []).append(os.fsdecode(value))
    return settings


# The container's process in its state directory, as the shim writes it at setup and this
# reads it: marshal, built in, where config.json's JSON would cost the json import.
PROCESS_FILE = "exec-process.marshal"


def dump_process(process: dict[str, Any]) -> bytes:
    return marshal.dumps(process)


def read_process_file(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        process = marshal.loads(f.read())
    if not isinstance(process, dict):
        raise ValueError(f"{path} holds no process")
    return process


def process_of(container: dict[str, Any], settings: dict[str, list[str]]) -> dict[str, Any]:
    """The runtime-spec process of an exec: the container's, with the exec's command, tty,
    environment and working directory; every capability if privileged."""
    process = dict(container)
    process["args"] = settings.get("arg", [])
    process["terminal"] = settings.get("tty") == ["1"]
    if settings.get("env"):
        process["env"] = settings["env"]
    cwd = settings.get("cwd", [""])[-1]
    if cwd:
        process["cwd"] = cwd
    if settings.get("privileged") == ["1"]:
        every = list(CAPABILITIES)
        process["capabilities"] = {
            k: every for k in ("bounding", "effective", "permitted", "inheritable")
        }
    return process


def main() -> NoReturn:
    try:
        with os.fdopen(REQUEST_FD, "rb") as f:
            settings = parse_request(f.read())
        container = read_process_file(settings["process_file"][0])
        seccomp_filter = None
        if settings.get("seccomp_file"):
            with open(settings["seccomp_file"][0], "rb") as f:
                seccomp_filter = f.read()
        namespace_fds = open_namespaces(int(settings["init_pid"][0]))
    except Exception as error:
        fail(STATUS_FD, f"exec setup: {error}", 126)
    exec_process(
        process_of(container, settings),
        settings.get("user", [""])[-1] or None,
        (0, 1, 2),
        namespace_fds,
        status_fd=STATUS_FD,
        cgroup_procs=[],
        cgroup_joined_fd=CGROUP_JOINED_FD,
        seccomp_filter=seccomp_filter,
    )
