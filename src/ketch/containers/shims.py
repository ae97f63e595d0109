"""The containers service's side of the shim protocol: spawn, reconnect, signal, attach, exec.

One place knows the shim client's calls, so the service reads as Docker's
lifecycle and the protocol can change underneath it. `ShimBackend` is the
service's `ShimManager` and `ShimHandle` its `Shim`; the handle of a container
lives in the service's record of that container, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ketch import errors
from ketch.containers.contracts import Exit, Streams
from ketch.containers.record import Container
from ketch.units import parse_size

if TYPE_CHECKING:
    from ketch.shim.client import ForkServer, ShimConnection

log = logging.getLogger("ketch.containers.shims")


class ShimHandle:
    """A connection to one container's shim."""

    def __init__(
        self,
        connection: ShimConnection,
        shim_pid: int,
        shim_start_time: int,
        pid: int,
        exited: Exit | None = None,
    ) -> None:
        self.connection = connection
        self.shim_pid = shim_pid
        self.shim_start_time = shim_start_time
        self.pid = pid
        self.exited = exited

    async def start(self) -> None:
        self.pid = await self.connection.start()

    async def wait(self) -> Exit:
        status = await self.connection.wait()
        return Exit(int(status.code), bool(status.oom_killed), status.finished_at or "")

    async def state(self) -> dict[str, Any]:
        return await self.connection.state()

    async def attach(self, stdin: bool, stdout: bool, stderr: bool) -> Streams:
        return await self.connection.attach(stdin, stdout, stderr)

    async def resize(self, height: int, width: int) -> None:
        await self.connection.resize(height, width)

    async def kill(self, signal: int) -> None:
        await self.connection.kill(signal)

    async def pause(self) -> None:
        await self.connection.pause()

    async def resume(self) -> None:
        await self.connection.resume()

    async def exec(self, exec_id: str, config: dict[str, Any], *, detach: bool) -> ShimExec:
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
        shim_exec_id = await self.connection.exec(spec)
        streams = None
        if not detach:
            streams = await self.connection.exec_attach(
                shim_exec_id,
                stdin=config["AttachStdin"],
                stdout=config["AttachStdout"],
                stderr=config["AttachStderr"],
            )
        pid = await self.connection.exec_start(shim_exec_id)
        return ShimExec(self.connection, shim_exec_id, pid, streams)

    async def exec_resize(self, shim_exec_id: str, height: int, width: int) -> None:
        await self.connection.exec_resize(shim_exec_id, height, width)

    async def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await self.connection.shutdown(force=True)
        await self.close()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.connection.close()


class ShimExec:
    """An exec process inside a container, through its shim."""

    def __init__(
        self, connection: ShimConnection, shim_exec_id: str, pid: int, streams: Streams | None
    ) -> None:
        self.connection = connection
        self.shim_exec_id = shim_exec_id
        self.pid = pid
        self.streams = streams

    async def wait(self) -> int:
        return int((await self.connection.exec_wait(self.shim_exec_id)).code)

    async def kill(self, signal: int) -> None:
        await self.connection.request("kill", id=self.shim_exec_id, signal=signal)


class ShimBackend:
    """Shims from one fork server, started lazily and replaced if it dies."""

    def __init__(self, exec_root: Path) -> None:
        self.exec_root = exec_root
        self._forkserver: ForkServer | None = None
        self._forkserver_lock = asyncio.Lock()

    def socket_path(self, container_id: str) -> Path:
        # Unix socket paths are limited to 107 bytes: keep them short.
        return self.exec_root / "s" / f"{container_id[:16]}.sock"

    async def forkserver(self) -> ForkServer:
        async with self._forkserver_lock:
            if self._forkserver is None:
                from ketch.shim.client import ForkServer

                self._forkserver = await ForkServer.start(self.exec_root)
            return self._forkserver

    async def spawn(
        self,
        container: Container,
        *,
        rootfs_mounts: Sequence[dict[str, Any]],
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
            rootfs_mounts=list(rootfs_mounts),
            state_dir=container.directory,
            socket_path=socket_path,
            tty=container.tty,
            open_stdin=bool(container.config.get("OpenStdin")),
            # As dockerd: StdinOnce closes stdin when the client's ends, but never on a TTY
            # (detaching from `run -it` leaves the shell running).
            stdin_once=bool(container.config.get("StdinOnce")) and not container.tty,
            log_path=None if container.log_driver == "none" else container.log_path,
            log_max_size=parse_size(log_config.get("max-size")) or log_max_size,
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
        return await _handle_for(await ShimConnection.connect(socket_path))

    async def reconnect(self, container: Container) -> ShimHandle | None:
        """The live shim of a container found at restore, or None if it is gone."""
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
        return await _handle_for(connection)

    def exit_from_state_file(self, container: Container) -> Exit:
        from ketch.shim.state import read_state

        state = read_state(container.directory) or {}
        if state.get("exit_code") is None:
            # The shim died without recording an exit: Docker reports such a task as 255.
            return Exit(255, False, "")
        return Exit(int(state["exit_code"]), bool(state.get("oom_killed")),
                    state.get("finished_at") or "")  # fmt: skip

    async def close(self) -> None:
        """The fork server exits; the shims, and so the containers, keep running."""
        if self._forkserver is not None:
            with contextlib.suppress(Exception):
                await self._forkserver.close()
            self._forkserver = None


async def _handle_for(connection: ShimConnection) -> ShimHandle:
    from ketch.shim.state import proc_start_time

    state = await connection.state()
    shim_pid = int(state.get("shim_pid") or 0)
    start_time = int(state.get("shim_start_time") or proc_start_time(shim_pid) or 0)
    exited = None
    if state.get("status") in ("exited", "stopped") and state.get("exit_code") is not None:
        exited = Exit(int(state["exit_code"]), bool(state.get("oom_killed")),
                      state.get("finished_at") or "")  # fmt: skip
    return ShimHandle(connection, shim_pid, start_time, int(state.get("init_pid") or 0), exited)

