"""The containers service's side of the shim protocol: spawn, reconnect, signal, attach, exec.

One place knows the shim client's calls, so the service reads as Docker's
lifecycle and the protocol can change underneath it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketch import errors

log = logging.getLogger("ketch.containers.shims")


@dataclass(frozen=True)
class Exit:
    code: int
    oom_killed: bool
    finished_at: str


class ShimHandle:
    """A connection to one container's shim."""

    def __init__(
        self,
        connection: Any,
        shim_pid: int,
        shim_start_time: int,
        pid: int,
        exited: Exit | None = None,
    ) -> None:
        self.connection = connection
        self.shim_pid = shim_pid
        self.shim_start_time = shim_start_time
        self.pid = pid
        self.exited = exited  # set when the shim had already seen the container exit

    async def start(self) -> None:
        self.pid = await self.connection.start()

    async def wait(self) -> Exit:
        status = await self.connection.wait()
        return Exit(int(status.code), bool(status.oom_killed), status.finished_at or "")

    async def attach(
        self, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self.connection.attach(stdin, stdout, stderr)


class ExecProcess:
    def __init__(self, connection: Any, shim_exec_id: str, pid: int, streams: Any) -> None:
        self.connection = connection
        self.shim_exec_id = shim_exec_id
        self.pid = pid
        self.streams = streams  # (reader, writer) of frames, or None when detached

    async def wait(self) -> int:
        return int((await self.connection.exec_wait(self.shim_exec_id)).code)


class ShimBackend:
    def __init__(self, exec_root: Path) -> None:
        self.exec_root = exec_root
        self._forkserver: Any = None
        self._forkserver_lock = asyncio.Lock()
        self._handles: dict[str, ShimHandle] = {}

    def socket_path(self, container_id: str) -> Path:
        # Unix socket paths are limited to 107 bytes: keep them short.
        return self.exec_root / "s" / f"{container_id[:16]}.sock"

    async def forkserver(self) -> Any:
        async with self._forkserver_lock:
            if self._forkserver is None:
                from ketch.shim.client import ForkServer

                self._forkserver = await _maybe_await(ForkServer.start(self.exec_root))
            return self._forkserver

    async def spawn(
        self,
        container: Any,
        *,
        rootfs_mounts: list[dict[str, Any]],
        cgroup_parent: str,
        log_max_size: int,
        log_max_files: int,
    ) -> ShimHandle:
        from ketch.shim.client import ShimConnection
        from ketch.shim.spec import ShimSpec

        socket_path = self.socket_path(container.id)
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        log_config = (container.host_config.get("LogConfig") or {}).get("Config") or {}
        spec = ShimSpec(
            id=container.id,
            bundle=container.bundle,
            rootfs_mounts=rootfs_mounts,
            state_dir=container.directory,
            socket_path=socket_path,
            tty=container.tty,
            open_stdin=bool(container.config.get("OpenStdin")),
            # As dockerd: StdinOnce closes stdin when the client's ends, but never on a TTY
            # (detaching from `run -it` leaves the shell running).
            stdin_once=bool(container.config.get("StdinOnce")) and not container.tty,
            log_path=None if log_driver(container) == "none" else container.log_path,
            log_max_size=_size(log_config.get("max-size")) or log_max_size,
            log_max_files=int(log_config.get("max-file") or log_max_files),
            cgroup_parent=cgroup_parent,
        )
        forkserver = await self.forkserver()
        try:
            await forkserver.spawn(spec)
        except (errors.KetchError, OSError) as exc:
            if forkserver.process.returncode is None and "exited" not in str(exc):
                raise
            # The fork server died (killed, crashed): start a new one and try once more.
            log.warning("fork server gone (%s); starting a new one", exc)
            async with self._forkserver_lock:
                if self._forkserver is forkserver:
                    self._forkserver = None
            await (await self.forkserver()).spawn(spec)
        connection = await ShimConnection.connect(socket_path)
        handle = await self._handle_for(container, connection)
        self._handles[container.id] = handle
        return handle

    async def _handle_for(self, container: Any, connection: Any) -> ShimHandle:
        from ketch.shim.state import proc_start_time

        state = await connection.state()
        shim_pid = int(state.get("shim_pid") or 0)
        start_time = int(state.get("shim_start_time") or proc_start_time(shim_pid) or 0)
        exited = None
        if state.get("status") in ("exited", "stopped") and state.get("exit_code") is not None:
            exited = Exit(int(state["exit_code"]), bool(state.get("oom_killed")),
                          state.get("finished_at") or "")  # fmt: skip
        return ShimHandle(connection, shim_pid, start_time, int(state.get("init_pid") or 0), exited)

    async def reconnect(self, container: Any) -> ShimHandle | None:
        """The live shim of a container found running at restore, or None if it is gone."""
        from ketch.shim.client import ShimConnection
        from ketch.shim.state import is_same_process, read_state

        state = read_state(container.directory) or {}
        pid = state.get("shim_pid") or container.shim_pid
        start = state.get("shim_start_time") or container.shim_start_time
        if not is_same_process(pid, start):
            return None
        try:
            connection = await ShimConnection.connect(self.socket_path(container.id))
        except (OSError, errors.KetchError) as exc:
            log.warning("shim of %s is alive but unreachable: %s", container.id[:12], exc)
            return None
        handle = await self._handle_for(container, connection)
        self._handles[container.id] = handle
        return handle

    def exit_from_state_file(self, container: Any) -> Exit:
        from ketch.shim.state import read_state

        state = read_state(container.directory) or {}
        if state.get("exit_code") is None:
            # The shim died without recording an exit: Docker reports such a task as 255.
            return Exit(255, False, "")
        return Exit(int(state["exit_code"]), bool(state.get("oom_killed")),
                    state.get("finished_at") or "")  # fmt: skip

    def _handle(self, container: Any) -> ShimHandle:
        handle = self._handles.get(container.id)
        if handle is None:
            raise errors.Conflict(f"Container {container.id} is not running")
        return handle

    async def call(self, container: Any, method: str) -> None:
        """A request without arguments on the container's shim (pause, resume)."""
        await getattr(self._handle(container).connection, method)()

    async def kill(self, container: Any, signal: int) -> None:
        await self._handle(container).connection.kill(signal)

    async def attach(
        self, container: Any, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self._handle(container).attach(stdin, stdout, stderr)

    async def resize(self, container: Any, height: int, width: int) -> None:
        await self._handle(container).connection.resize(height, width)

    async def exec(
        self, container: Any, exec_id: str, config: dict[str, Any], *, detach: bool
    ) -> ExecProcess:
        """Create, attach (unless detached) and start an exec in the container's shim."""
        from ketch.shim.spec import ExecSpec

        spec = ExecSpec(
            id=exec_id,
            args=list(config["Cmd"]),
            env=list(config["Env"]),
            user=config["User"],
            cwd=config["WorkingDir"],
            tty=config["Tty"],
            stdin=config["AttachStdin"],
            privileged=config["Privileged"],
        )
        connection = self._handle(container).connection
        shim_exec_id = await connection.exec(spec)
        streams = None
        if not detach:
            streams = await connection.exec_attach(
                shim_exec_id,
                stdin=config["AttachStdin"],
                stdout=config["AttachStdout"],
                stderr=config["AttachStderr"],
            )
        pid = await connection.exec_start(shim_exec_id)
        return ExecProcess(connection, shim_exec_id, pid, streams)

    async def exec_resize(self, container: Any, exec_id: str, height: int, width: int) -> None:
        await self._handle(container).connection.exec_resize(exec_id, height, width)

    async def discard(self, container: Any) -> None:
        """Tell a shim whose container never ran to clean up and exit now."""
        handle = self._handles.pop(container.id, None)
        if handle is None:
            return
        with contextlib.suppress(Exception):
            await handle.connection.shutdown(force=True)
        with contextlib.suppress(Exception):
            await handle.connection.close()

    def forget(self, container: Any) -> None:
        handle = self._handles.pop(container.id, None)
        if handle is not None:
            with contextlib.suppress(Exception):
                result = handle.connection.close()
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)

    async def close(self) -> None:
        for container_id in list(self._handles):
            handle = self._handles.pop(container_id)
            with contextlib.suppress(Exception):
                await _maybe_await(handle.connection.close())
        if self._forkserver is not None:
            with contextlib.suppress(Exception):
                await _maybe_await(self._forkserver.stop())
            self._forkserver = None


def log_driver(container: Any) -> str:
    return (container.host_config.get("LogConfig") or {}).get("Type") or "json-file"


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


def _size(text: str | None) -> int | None:
    if not text:
        return None
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    lowered = text.strip().lower().removesuffix("b")
    if lowered and lowered[-1] in units:
        return int(float(lowered[:-1]) * units[lowered[-1]])
    return int(lowered)
