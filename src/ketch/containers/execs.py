"""`docker exec`: processes added to a running container through its shim."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ketch import errors
from ketch.containers import merge, names, schema
from ketch.containers.attach import AttachSession
from ketch.containers.contracts import Shim
from ketch.containers.entry import Entry, ExecRecord
from ketch.containers.table import ContainerTable


class ExecService:
    def __init__(self, table: ContainerTable) -> None:
        self.table = table

    def exec_create(self, name_or_id: str, config: dict[str, Any]) -> str:
        schema.check("ExecConfig", config, schema.EXEC_CONFIG)
        entry = self.table.get(name_or_id)
        container = entry.container
        if not container.running:
            raise errors.Conflict(f"Container {container.id} is not running")
        if container.state.get("Paused"):
            raise errors.Conflict(
                f"Container {container.id} is paused, unpause the container before exec"
            )
        cmd = config.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise errors.InvalidArgument("No exec command specified")
        exec_id = names.new_id()
        env = merge.merge_env(container.config.get("Env"), config.get("Env"))
        record_config = {
            "Cmd": list(cmd),
            # As dockerd, a tty exec gets TERM=xterm unless its env names one.
            "Env": merge.process_env({"Tty": config.get("Tty"), "Env": env}),
            "User": config.get("User") or container.config.get("User") or "",
            "WorkingDir": config.get("WorkingDir") or container.config.get("WorkingDir") or "/",
            "Tty": bool(config.get("Tty")),
            "AttachStdin": bool(config.get("AttachStdin")),
            "AttachStdout": bool(config.get("AttachStdout")),
            "AttachStderr": bool(config.get("AttachStderr")),
            "Privileged": bool(config.get("Privileged")),
            "DetachKeys": config.get("DetachKeys") or "",
        }
        record = ExecRecord(exec_id, container.id, record_config)
        record.pending_size = merge.console_size(config.get("ConsoleSize"))
        entry.execs[exec_id] = record
        return exec_id

    async def exec_start(
        self, exec_id: str, *, detach: bool = False
    ) -> tuple[ExecRecord, AttachSession | None]:
        """Start an exec; returns the record and, unless detached, its stream session."""
        entry, record = self._startable(exec_id)
        shim = _running_shim(entry)
        record.running = True
        try:
            process = await shim.exec(exec_id, record.config, detach=detach)
        except BaseException:
            record.running = False
            record.exit_code = 126
            record.done.set()
            raise
        record.pid = process.pid
        record.process = process
        if record.pending_size and record.config["Tty"]:
            with contextlib.suppress(errors.KetchError, ConnectionError):
                await shim.exec_resize(process.shim_exec_id, *record.pending_size)
        session = None
        if process.streams is not None:
            cfg = record.config
            session = AttachSession(
                stdin=cfg["AttachStdin"], stdout=cfg["AttachStdout"], stderr=cfg["AttachStderr"]
            )
            await session.connect(*process.streams)

        async def finish() -> None:
            try:
                record.exit_code = await process.wait()
            except Exception:
                record.exit_code = 137
            record.running = False
            record.done.set()

        record.task = asyncio.create_task(finish())
        return record, session

    def exec_check_startable(self, exec_id: str) -> ExecRecord:
        """The exec, if it may start now; Docker's errors otherwise."""
        return self._startable(exec_id)[1]

    def _startable(self, exec_id: str) -> tuple[Entry, ExecRecord]:
        entry, record = self.table.find_exec(exec_id)
        if record.running or record.exit_code is not None:
            raise errors.Conflict(f"exec {exec_id} has already been started")
        if not entry.container.running:
            raise errors.Conflict(f"Container {entry.id} is not running")
        return entry, record

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        _, record = self.table.find_exec(exec_id)
        cfg = record.config
        return {
            "ID": record.id,
            "Running": record.running,
            "ExitCode": record.exit_code,
            "ProcessConfig": {
                "tty": cfg["Tty"],
                "entrypoint": cfg["Cmd"][0],
                "arguments": cfg["Cmd"][1:],
                "privileged": cfg["Privileged"],
                "user": cfg["User"],
            },
            "OpenStdin": cfg["AttachStdin"],
            "OpenStderr": cfg["AttachStderr"],
            "OpenStdout": cfg["AttachStdout"],
            "CanRemove": False,
            "ContainerID": record.container_id,
            "DetachKeys": cfg["DetachKeys"],
            "Pid": record.pid,
        }

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        entry, record = self.table.find_exec(exec_id)
        if record.process is None:
            record.pending_size = (height, width)  # applied as the process starts
            return
        if not record.running:
            return
        await _running_shim(entry).exec_resize(record.process.shim_exec_id, height, width)


def _running_shim(entry: Entry) -> Shim:
    if entry.shim is None or not entry.container.running:
        raise errors.Conflict(f"Container {entry.id} is not running")
    return entry.shim
