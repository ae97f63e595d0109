"""`ketch-runtime`: the runtime alone on an OCI bundle, with runc's command names.

So far `spec` (write a default config.json) and `run` (create and start a
container in the foreground on the caller's stdio, exit with its code).
create/start/state/kill/delete/exec for containerd come later.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ketch.runtime import cgroups
from ketch.runtime import syscalls as sc
from ketch.runtime.init import START_BYTE, container_init
from ketch.runtime.spec import default_spec

DEFAULT_CGROUP_PARENT = "ketch-runtime"


def cgroup_place(config: dict[str, Any], container_id: str) -> tuple[str, str]:
    """(parent, name) from linux.cgroupsPath, as runc reads a path form."""
    path = ((config.get("linux") or {}).get("cgroupsPath") or "").strip("/")
    if not path:
        return DEFAULT_CGROUP_PARENT, container_id
    parent, _, name = path.rpartition("/")
    return parent, name


def command_spec(args: argparse.Namespace) -> int:
    target = Path(args.bundle) / "config.json"
    if target.exists():
        print(f"File {target} exists. Remove it first", file=sys.stderr)
        return 1
    config = default_spec(["sh"], tty=True)
    target.write_text(json.dumps(config, indent=1) + "\n")
    return 0


def _read_line(fd: int) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            return None if not data else {"error": data.decode(errors="replace")}
        data += chunk
    return json.loads(data)


def command_run(args: argparse.Namespace) -> int:
    bundle = Path(args.bundle).resolve()
    config = json.loads((bundle / "config.json").read_text())
    if (config.get("process") or {}).get("terminal"):
        print(
            "ketch-runtime run: process.terminal needs --console-socket (not yet)", file=sys.stderr
        )
        return 1
    parent, name = cgroup_place(config, args.container_id)
    resources = (config.get("linux") or {}).get("resources")
    cgroup = cgroups.create(parent, name, resources)
    try:
        return _run_in(bundle, config, cgroup, args.pid_file)
    finally:
        cgroup.remove()


def _run_in(
    bundle: Path, config: dict[str, Any], cgroup: cgroups.Cgroup, pid_file: str | None
) -> int:
    namespaces = (config.get("linux") or {}).get("namespaces") or []
    if any(ns.get("type") == "pid" and not ns.get("path") for ns in namespaces):
        sc.unshare(sc.CLONE_NEWPID)
    sync_r, sync_w = os.pipe()
    status_r, status_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        container_init(
            bundle,
            [],
            (0, 1, 2),
            sync_r,
            status_fd=status_w,
            cgroup_procs=cgroup.procs_files,
            spec=config,
        )
    os.close(sync_r)
    os.close(status_w)
    # Signals to the runtime go on to the container, as runc forwards them.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(sig, lambda number, _frame: os.kill(pid, number))
    report = _read_line(status_r)
    if report is None or "error" in report:
        os.waitpid(pid, 0)
        print((report or {}).get("error", "container init failed"), file=sys.stderr)
        return 1
    if pid_file:
        Path(pid_file).write_text(str(pid))
    os.write(sync_w, START_BYTE)
    os.close(sync_w)
    report = _read_line(status_r)
    os.close(status_r)
    _, status = os.waitpid(pid, 0)
    if report is not None:
        print(report.get("error", "exec failed"), file=sys.stderr)
        return int(report.get("exit_code", 126))
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ketch-runtime", description="OCI runtime (runc's commands)")
    commands = top.add_subparsers(dest="command", required=True)
    spec = commands.add_parser("spec", help="write a default config.json in the bundle")
    spec.add_argument("--bundle", "-b", default=".")
    spec.set_defaults(handler=command_spec)
    run = commands.add_parser("run", help="create and start a container, in the foreground")
    run.add_argument("--bundle", "-b", default=".")
    run.add_argument("--pid-file")
    run.add_argument("container_id")
    run.set_defaults(handler=command_run)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.handler(args))


if __name__ == "__main__":
    main()
