"""`ketch exec`: POST /containers/{id}/exec, then a hijacked /exec/{id}/start."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from ketch.cli import terminal
from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, LIST, STRING, Command, Flag, Parsed
from ketch.cli.runopts import env_values, read_env_file
from ketch.cli.session import detach_key_bytes, resize_tty
from ketch.cli.stdio import copy_output, start_stdin_pump


def exec_request(parsed: Parsed) -> dict[str, Any]:
    """The body of POST /containers/{id}/exec for a parsed `exec` command line."""
    _container, *command = parsed.args
    env = env_values([line for path in parsed.env_file for line in read_env_file(path)])
    env += env_values(parsed.env)
    body: dict[str, Any] = {
        "User": parsed.user or "",
        "Privileged": bool(parsed.privileged),
        "Tty": bool(parsed.tty),
        "AttachStdin": bool(parsed.interactive) and not parsed.detach,
        "AttachStdout": not parsed.detach,
        "AttachStderr": not parsed.detach,
        "Detach": bool(parsed.detach),
        "Env": env or None,
        "WorkingDir": parsed.workdir or "",
        "Cmd": command,
    }
    if parsed.detach_keys:
        body["DetachKeys"] = parsed.detach_keys
    return body


def exec_command(cli: Cli, parsed: Parsed) -> int:
    container = parsed.args[0]
    body = exec_request(parsed)
    if body["Tty"] and body["AttachStdin"] and not terminal.is_terminal(0):
        raise ExitStatus(1, "the input device is not a TTY")
    client = cli.client
    exec_id = client.post(f"/containers/{container}/exec", body=body)["Id"]
    start_body = {"Detach": body["Detach"], "Tty": body["Tty"]}
    if parsed.detach:
        client.request("POST", f"/exec/{exec_id}/start", body=start_body).read()
        return 0
    keys = detach_key_bytes(parsed.detach_keys)
    conn = client.hijack("POST", f"/exec/{exec_id}/start", body=start_body)
    detached = threading.Event()

    def on_detach() -> None:
        detached.set()
        conn.shutdown()

    with contextlib.ExitStack() as stack:
        stack.enter_context(conn)
        if body["Tty"]:
            resize_tty(cli, f"/exec/{exec_id}")
            stack.enter_context(terminal.on_resize(lambda: resize_tty(cli, f"/exec/{exec_id}")))
            if body["AttachStdin"]:
                stack.enter_context(terminal.raw_mode(0))
        if body["AttachStdin"]:
            watch = keys if body["Tty"] else None
            start_stdin_pump(conn, detach_keys=watch, on_detach=on_detach)
        copy_output(conn, tty=body["Tty"])
    if detached.is_set():
        return 0
    result = client.get(f"/exec/{exec_id}/json") or {}
    code = result.get("ExitCode")
    return int(code) if code is not None else 0


ENTRIES = {
    "exec": Entry(
        Command(
            "exec",
            "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
            "Execute a command in a running container",
            [
                Flag("detach", "detach", "d", BOOL, help="Detached mode: run in the background"),
                Flag("detach_keys", "detach-keys", None, STRING),
                Flag("env", "env", "e", LIST, help="Set environment variables"),
                Flag(
                    "env_file",
                    "env-file",
                    None,
                    LIST,
                    help="Read in a file of environment variables",
                ),
                Flag("interactive", "interactive", "i", BOOL, help="Keep STDIN open"),
                Flag("privileged", "privileged", None, BOOL, help="Give extended privileges"),
                Flag("tty", "tty", "t", BOOL, help="Allocate a pseudo-TTY"),
                Flag("user", "user", "u", STRING, help="Username or UID"),
                Flag("workdir", "workdir", "w", STRING, help="Working directory"),
            ],
            interspersed=False,
            min_args=2,
        ),
        exec_command,
    )
}
