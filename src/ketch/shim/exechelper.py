"""The first program of a `docker exec` process, run by ketch-monitor.

The monitor forks the exec into the container's PID namespace (so it is the
monitor's own child, reaped there) and runs this with the exec's stdio on fds
0-2, its status pipe on fd 3 (launch.py's protocol: one JSON line on error, end
of file once the command is exec'd) and on fd 4 what to run: `key=value` lines
(init_pid, bundle, seccomp_file, cgroup_procs...) and last `spec=` with the
exec's ExecSpec as JSON. From here on it is exec_process, as for ketch-runtime
exec: the other namespaces, the cgroup, the user, capabilities, seccomp, env
and cwd, then execve.

Its imports are its start-up time, paid by every exec: runtime/process.py, not
runtime/init.py with the container init's mounts, seccomp compiler and cgroup code;
tests/unit/test_forkserver_imports.py pins them.
"""

from __future__ import annotations

import json
import os

from ketch.runtime.caps import CAPABILITIES
from ketch.runtime.process import exec_process, fail, open_namespaces
from ketch.shim.execspec import ExecSpec

TYPE_CHECKING = False  # typing (with re) would be ~10 ms more of every exec
if TYPE_CHECKING:
    from typing import Any, NoReturn

STATUS_FD = 3
REQUEST_FD = 4


def parse_request(data: bytes) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The request's settings (each key's values, in order) and the exec spec."""
    head, separator, spec = data.partition(b"spec=")
    if not separator or (head and not head.endswith(b"\n")):
        raise ValueError("the exec request has no spec")
    settings: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        key, _, value = line.partition("=")
        settings.setdefault(key, []).append(value)
    return settings, json.loads(spec)


def process_of(config: dict[str, Any], spec: ExecSpec) -> dict[str, Any]:
    """The runtime-spec process of an exec: the container's, with the exec's command, tty,
    environment and working directory; every capability if privileged."""
    process = dict(config.get("process") or {})
    process["args"] = list(spec.args)
    process["terminal"] = spec.tty
    if spec.env:
        process["env"] = list(spec.env)
    if spec.cwd:
        process["cwd"] = spec.cwd
    if spec.privileged:
        every = list(CAPABILITIES)
        process["capabilities"] = {
            k: every for k in ("bounding", "effective", "permitted", "inheritable")
        }
    return process


def main() -> NoReturn:
    try:
        with os.fdopen(REQUEST_FD, "rb") as f:
            settings, spec_dict = parse_request(f.read())
        spec = ExecSpec.from_dict(spec_dict)
        with open(os.path.join(settings["bundle"][0], "config.json"), "rb") as f:
            config = json.load(f)
        seccomp_filter = None
        if settings.get("seccomp_file"):
            with open(settings["seccomp_file"][0], "rb") as f:
                seccomp_filter = f.read()
        namespace_fds = open_namespaces(int(settings["init_pid"][0]))
    except Exception as error:
        fail(STATUS_FD, f"exec setup: {error}", 126)
    exec_process(
        process_of(config, spec),
        spec.user or None,
        (0, 1, 2),
        namespace_fds,
        status_fd=STATUS_FD,
        cgroup_procs=settings.get("cgroup_procs", []),
        seccomp_filter=seccomp_filter,
    )
