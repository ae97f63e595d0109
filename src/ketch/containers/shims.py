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
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ketch import errors
from ketch.containers.contracts import Exit, Streams
from ketch.containers.record import Container
from ketch.units import parse_size

if TYPE_CHECKING:
    from ketch.shim.client import ForkServer, ShimConnection
    from ketch.shim.spec import ShimSpec

log = logging.getLogger("ketch.containers.shims")

# Between the tries of a wait that failed while its shim still runs.
WAIT_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0)
# How long the processes of a container whose shim died may take to go once killed.
KILL_TIMEOUT = 5.0


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
        """The container's exit, from its shim. A wait that fails while the shim lives (a
        connection refused for a moment) is asked again; the error is raised once the shim
        is gone, or still unreachable after a few tries."""
        for delay in WAIT_RETRY_DELAYS:
            try:
                status = await self.connection.wait()
                return Exit(int(status.code), bool(status.oom_killed), status.finished_at or "")
            except (errors.KetchError, OSError):
                # Its sockets close while a killed process exits, before /proc says so.
                await asyncio.sleep(delay)
                if not self.alive():
                    raise
        status = await self.connection.wait()
        return Exit(int(status.code), bool(status.oom_killed), status.finished_at or "")

    def alive(self) -> bool:
        from ketch.runtime.procinfo import is_running

        return is_running(self.shim_pid, self.shim_start_time)

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
        """The fork server, started now if there is none (at the daemon's start, or after
        the last one died); ShimError with its reason if it cannot start."""
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
        await self._spawn_from_a_live_forkserver(spec)
        return await _handle_for(await ShimConnection.connect(socket_path))

    async def _spawn_from_a_live_forkserver(self, spec: ShimSpec) -> None:
        """Spawn; a fork server found dead (killed, crashed) is replaced and asked again if
        it never got the request. One that died holding it may have forked the shim
        already: that spawn fails (its shim, unable to report, cleans up), the next works."""
        from ketch.shim.client import ForkServerGone

        forkserver = await self.forkserver()
        try:
            await forkserver.spawn(spec)
            return
        except ForkServerGone as exc:
            log.warning("the fork server is gone (%s); starting a new one", exc)
            async with self._forkserver_lock:
                if self._forkserver is forkserver:
                    self._forkserver = None
            with contextlib.suppress(Exception):
                await forkserver.close()
            if exc.delivered:
                raise
        try:
            forkserver = await self.forkserver()
        except (errors.KetchError, OSError) as exc:
            reason = exc.message if isinstance(exc, errors.KetchError) else str(exc)
            raise errors.Internal(
                f"the fork server died and a new one could not be started: {reason}"
            ) from exc
        await forkserver.spawn(spec)

    async def reconnect(self, container: Container) -> ShimHandle | None:
        """The live shim of a container found at restore, or None if it is gone."""
        from ketch.runtime.procinfo import is_running
        from ketch.shim.client import ShimConnection

        pid, start = _recorded_shim(container)
        if not is_running(pid, start):  # gone, or a zombie nobody reaped yet
            return None
        try:
            connection = await ShimConnection.connect(self.socket_path(container.id))
        except (OSError, errors.KetchError) as exc:
            log.warning("shim of %s is alive but unreachable: %s", container.id[:12], exc)
            return None
        return await _handle_for(connection)

    async def end_of_lost_shim(self, container: Container, cgroup_parent: str) -> Exit:
        """As containerd after a shim disconnected (`shim delete`, then a TaskExit): the
        shim, if it still runs unreachable, and every process left in the container's
        cgroup are killed, the cgroup and the socket removed. The exit is the one the shim
        recorded before it died; else 137 (128 + SIGKILL, containerd's status for it), or
        255 if the processes could not all be killed."""
        from ketch.runtime.procinfo import is_running
        from ketch.shim.state import read_state
        from ketch.timestamps import rfc3339_nano

        shim_pid, shim_start = _recorded_shim(container)
        if is_running(shim_pid, shim_start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(shim_pid, signal.SIGKILL)
        killed = await asyncio.to_thread(_kill_remains, cgroup_parent, container.id)
        with contextlib.suppress(OSError):
            self.socket_path(container.id).unlink()
        state = read_state(container.directory) or {}
        if state.get("exit_code") is not None:
            return Exit(int(state["exit_code"]), bool(state.get("oom_killed")),
                        state.get("finished_at") or "")  # fmt: skip
        what = f"ketch-shim (pid {shim_pid})" if shim_pid else "ketch-shim"
        if killed:
            error = f"shim disconnected: {what} died; the container's processes were killed"
            log.warning("%s: %s", container.id[:12], error)
            return Exit(128 + signal.SIGKILL, False, rfc3339_nano(), error)
        error = (f"shim disconnected: {what} died; the container's processes could not all "
                 "be killed")  # fmt: skip
        log.error("%s: %s", container.id[:12], error)
        return Exit(255, False, rfc3339_nano(), error)

    async def close(self) -> None:
        """The fork server exits; the shims, and so the containers, keep running."""
        if self._forkserver is not None:
            with contextlib.suppress(Exception):
                await self._forkserver.close()
            self._forkserver = None


def _recorded_shim(container: Container) -> tuple[int, int | None]:
    """The shim's pid and start time: shim-state.json's, else the container record's."""
    from ketch.shim.state import read_state

    state = read_state(container.directory) or {}
    pid = state.get("shim_pid") or container.shim_pid
    start = state.get("shim_start_time") or container.shim_start_time
    return (int(pid) if pid else 0), (int(start) if start else None)


def _kill_remains(cgroup_parent: str, container_id: str) -> bool:
    """SIGKILL every process of the container's cgroup, frozen meanwhile so none forks
    past the kill (as runc's kill --all); wait until they are gone and remove the cgroup.
    False if some are left."""
    from ketch.runtime import cgroups

    cgroup = cgroups.load(cgroup_parent, container_id)
    if not any(directory.is_dir() for directory in cgroup.directories.values()):
        return True
    deadline = time.monotonic() + KILL_TIMEOUT
    while pids := cgroup.pids():
        if time.monotonic() > deadline:
            return False
        frozen = False
        with contextlib.suppress(OSError, TimeoutError):
            cgroup.freeze(True)
            frozen = True
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if frozen:  # a frozen task dies only once thawed (a paused container's too)
            with contextlib.suppress(OSError, TimeoutError):
                cgroup.freeze(False)
        time.sleep(0.01)
    try:
        cgroup.remove(timeout=1.0)
    except OSError as exc:
        log.warning("cannot remove the cgroup of %s: %s", container_id[:12], exc)
    return True


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

