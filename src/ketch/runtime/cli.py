"""`ketch-runtime`: the runtime alone on an OCI bundle, with runc's command line.

Global `--root`, `--log`, `--log-format` as containerd passes them; errors
go to stderr and, with `--log`, to that file (one JSON object a line with
`--log-format json`), where containerd looks for them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ketch.errors import KetchError
from ketch.runtime import commands
from ketch.runtime.runstate import DEFAULT_ROOT, ContainerState


def _state(args: argparse.Namespace) -> int:
    state = ContainerState.load(args.root, args.container_id)
    print(json.dumps(state.oci_state(args.root, commands.is_frozen(state)), indent=2))
    return 0


def _create(args: argparse.Namespace) -> int:
    commands.create(
        args.root, args.container_id, Path(args.bundle), args.pid_file, args.console_socket
    )
    return 0


def _start(args: argparse.Namespace) -> int:
    commands.start(args.root, args.container_id)
    return 0


def _run(args: argparse.Namespace) -> int:
    return commands.run(args.root, args.container_id, Path(args.bundle), args.pid_file)


def _kill(args: argparse.Namespace) -> int:
    commands.kill(args.root, args.container_id, commands.parse_signal(args.signal), args.all)
    return 0


def _delete(args: argparse.Namespace) -> int:
    commands.delete(args.root, args.container_id, args.force)
    return 0


def _pause(args: argparse.Namespace) -> int:
    commands.pause(args.root, args.container_id, True)
    return 0


def _resume(args: argparse.Namespace) -> int:
    commands.pause(args.root, args.container_id, False)
    return 0


def _list(args: argparse.Namespace) -> int:
    root = Path(args.root)
    states = []
    for directory in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            state = ContainerState.load(root, directory.name)
        except KetchError:
            continue
        states.append(state.oci_state(root, commands.is_frozen(state)))
    if args.format == "json":
        print(json.dumps(states))
    else:
        print(f"{'ID':<20}{'PID':<10}{'STATUS':<10}{'BUNDLE':<40}CREATED")
        for s in states:
            print(f"{s['id']:<20}{s['pid']:<10}{s['status']:<10}{s['bundle']:<40}{s['created']}")
    return 0


def _spec(args: argparse.Namespace) -> int:
    from ketch.runtime.spec import default_spec

    target = Path(args.bundle) / "config.json"
    if target.exists():
        raise KetchError(f"File {target} exists. Remove it first")
    target.write_text(json.dumps(default_spec(["sh"], tty=True), indent=1) + "\n")
    return 0


def _exec(args: argparse.Namespace) -> int:
    state = ContainerState.load(args.root, args.container_id)
    if args.process:
        process: dict[str, Any] = json.loads(Path(args.process).read_text())
    else:
        if not args.command:
            raise KetchError("exec: a command or --process is required")
        config = json.loads((Path(state.bundle) / "config.json").read_text())
        process = commands.process_from_args(
            config, args.command, args.env or [], args.cwd, args.tty, args.user
        )
    return commands.exec_in(
        args.root, args.container_id, process, args.detach, args.pid_file, args.console_socket
    )


def _update(args: argparse.Namespace) -> int:
    if args.resources:
        text = sys.stdin.read() if args.resources == "-" else Path(args.resources).read_text()
        resources: dict[str, Any] = json.loads(text)
    else:
        resources = {}
    if args.memory is not None:
        resources.setdefault("memory", {})["limit"] = args.memory
    if args.pids_limit is not None:
        resources.setdefault("pids", {})["limit"] = args.pids_limit
    if args.cpu_quota is not None:
        resources.setdefault("cpu", {})["quota"] = args.cpu_quota
    if args.cpu_period is not None:
        resources.setdefault("cpu", {})["period"] = args.cpu_period
    commands.update(args.root, args.container_id, resources)
    return 0


def _ps(args: argparse.Namespace) -> int:
    pids = commands.processes(args.root, args.container_id)
    if args.format == "json":
        print(json.dumps(pids))
    else:
        print("PID")
        for pid in pids:
            print(pid)
    return 0


def _features(args: argparse.Namespace) -> int:
    print(json.dumps(commands.features(), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ketch-runtime", description="OCI runtime (runc's commands)")
    top.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    top.add_argument("--log")
    top.add_argument("--log-format", choices=("text", "json"), default="text")
    top.add_argument("--debug", action="store_true")
    top.add_argument("--systemd-cgroup", action="store_true", help="accepted; cgroupfs is used")
    sub = top.add_subparsers(dest="command_name", required=True)

    def command(
        name: str, handler: Any, help_text: str, with_id: bool = True
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        if with_id:
            p.add_argument("container_id")
        return p

    spec = command("spec", _spec, "write a default config.json in the bundle", with_id=False)
    spec.add_argument("--bundle", "-b", default=".")
    for name, handler, text in (
        ("create", _create, "create a container; its process waits for start"),
        ("run", _run, "create and start a container, in the foreground"),
    ):
        p = command(name, handler, text)
        p.add_argument("--bundle", "-b", default=".")
        p.add_argument("--pid-file")
        if name == "create":
            p.add_argument("--console-socket")
        p.add_argument(
            "--no-pivot", action="store_true", help="accepted; pivot_root is always used"
        )
        p.add_argument("--no-new-keyring", action="store_true", help="accepted")
    command("start", _start, "start a created container")
    command("state", _state, "print a container's state as JSON")
    kill = command("kill", _kill, "send a signal (default SIGTERM)")
    kill.add_argument("signal", nargs="?", default="SIGTERM")
    kill.add_argument("--all", "-a", action="store_true")
    delete = command("delete", _delete, "remove a stopped container (or any, with --force)")
    delete.add_argument("--force", "-f", action="store_true")
    command("pause", _pause, "freeze every process of a container")
    command("resume", _resume, "thaw a paused container")
    listing = command("list", _list, "list containers", with_id=False)
    listing.add_argument("--format", "-f", choices=("table", "json"), default="table")
    upd = command("update", _update, "change a running container's resources")
    upd.add_argument(
        "--resources", "-r", help="runtime-spec linux.resources JSON file, - for stdin"
    )
    upd.add_argument("--memory", type=int)
    upd.add_argument("--pids-limit", type=int)
    upd.add_argument("--cpu-quota", type=int)
    upd.add_argument("--cpu-period", type=int)
    ps = command("ps", _ps, "list the processes of a container")
    ps.add_argument("--format", "-f", choices=("table", "json"), default="table")
    command("features", _features, "print what this runtime supports", with_id=False)
    execute = command("exec", _exec, "run a process in a running container")
    execute.add_argument("--process", "-p")
    execute.add_argument("--detach", "-d", action="store_true")
    execute.add_argument("--pid-file")
    execute.add_argument("--console-socket")
    execute.add_argument("--tty", "-t", action="store_true")
    execute.add_argument("--cwd")
    execute.add_argument("--env", "-e", action="append")
    execute.add_argument("--user", "-u")
    execute.add_argument("command", nargs=argparse.REMAINDER)
    return top


def _log_error(args: argparse.Namespace, message: str) -> None:
    print(f"ketch-runtime: {message}", file=sys.stderr)
    if not args.log:
        return
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.log_format == "json":
        line = json.dumps({"level": "error", "msg": message, "time": stamp})
    else:
        line = f'time="{stamp}" level=error msg="{message}"'
    with open(args.log, "a") as f:
        f.write(line + "\n")


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        code = args.handler(args)
    except commands.StartError as error:
        _log_error(args, error.message)
        code = error.exit_code
    except KetchError as error:
        _log_error(args, error.message)
        code = 1
    except OSError as error:
        _log_error(args, str(error))
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
