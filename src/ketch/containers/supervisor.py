"""Runs a container under its shim and watches it to the end of each run: the start, the
exit report, the health checks, the restart policy, and finding running containers again
after the daemon restarts.

Every running container has one watcher task awaiting its shim's exit report; there are
no threads per container. Containers outlive the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ketch import errors
from ketch.containers import merge, networking, restart
from ketch.containers.bundle import join_namespace, set_process_env
from ketch.containers.contracts import (
    ExecProcess,
    Exit,
    Networks,
    Shim,
    ShimManager,
    Snapshotter,
)
from ketch.containers.entry import WAIT_CONDITIONS, Entry
from ketch.containers.etcfiles import write_hosts
from ketch.containers.events import EventBus, publish_container
from ketch.containers.health import HealthMonitor, fresh_health, probe_command
from ketch.containers.record import Container
from ketch.containers.table import ContainerTable
from ketch.timestamps import rfc3339_nano

log = logging.getLogger("ketch.containers")


@dataclass(frozen=True)
class RunSettings:
    """The daemon's settings for every container's shim."""

    cgroup_parent: str = "ketch"
    log_max_size: int = 10 * 1024 * 1024
    log_max_files: int = 3


class Supervisor:
    def __init__(
        self,
        table: ContainerTable,
        snapshots: Snapshotter,
        shims: ShimManager,
        events: EventBus,
        settings: RunSettings,
        auto_remove: Callable[[Entry], Awaitable[None]],
        networks: Networks | None = None,
        before_spawn: Callable[[Container], None] | None = None,
        before_plan: Callable[[Container], None] | None = None,
    ) -> None:
        self.networks = networks
        self._before_spawn = before_spawn
        # First of a start: the bundle the later steps edit (a start's own failure if not).
        self._before_plan = before_plan
        self.table = table
        self.snapshots = snapshots
        self.shims = shims
        self.events = events
        self.settings = settings
        self._auto_remove = auto_remove
        self.restarts = restart.RestartScheduler(self._restart_now)

    # -- a run -----------------------------------------------------------------------

    async def run(self, entry: Entry) -> None:
        """Spawn the shim, join the waiting attaches, start; the caller holds the lock."""
        container = entry.container
        begun = time.monotonic()
        entry.forget_finished_execs()
        try:
            if self._before_plan is not None:
                self._before_plan(container)
            plan = networking.plan(
                container.config, container.host_config, container.networking_config,
                stored=True,
            )
            if plan.mode == "container":
                self._join_network_of(entry, plan.joins)
            self._join_pid_and_ipc_of(entry)
            links = self._links(entry, plan)
            if self._before_spawn is not None:
                self._before_spawn(container)  # its volumes mounted, as the runtime binds them
            netns = self._make_namespace(entry, plan)
        except errors.KetchError as exc:
            # As any failed start: waiters woken, --rm honoured (the docker CLI's `run --rm`
            # waits for the removal after a failed start, and would wait for ever).
            entry.end_pending_attaches()
            await self._fail_start(entry, exc)
            raise
        try:
            mounts = self.snapshots.mounts(container.id)
        except errors.NotFound:  # a record from before snapshots were made at create
            mounts = self.snapshots.prepare(container.id, container.chain_id)
        spawning = self.shims.spawn(
            container,
            rootfs_mounts=[m.to_dict() for m in mounts],
            cgroup_parent=self.settings.cgroup_parent,
            log_max_size=self.settings.log_max_size,
            log_max_files=self.settings.log_max_files,
        )
        connect_error: BaseException | None = None
        if netns is None:
            spawned_or_error: Shim | BaseException = await _outcome(spawning)
        else:
            # The namespace exists before the process: its endpoints are made while the
            # shim and the runtime create the container, not after.
            spawned_or_error, connect_error = await asyncio.gather(
                spawning, self._connect(entry, netns, plan, links), return_exceptions=True
            )
        if isinstance(spawned_or_error, BaseException):
            if netns is not None:
                await self._disconnect(entry)
            failure = spawned_or_error
            if isinstance(failure, errors.KetchError):
                self._record_failed_start(entry, failure.message)
                raise failure
            if not isinstance(failure, Exception):
                raise failure
            self._record_failed_start(entry, str(failure))
            raise errors.Internal(f"failed to create task for container: {failure}") from failure
        shim = spawned_or_error
        connected = time.monotonic()
        entry.shim = shim
        sessions, entry.pending_attaches = entry.pending_attaches, []
        try:
            if connect_error is not None:
                raise connect_error
            for session in sessions:
                reader, writer = await shim.attach(
                    session.want_stdin, session.want_stdout, session.want_stderr
                )
                await session.connect(reader, writer)
            size = entry.pending_size or merge.console_size(
                container.host_config.get("ConsoleSize")
            )
            entry.pending_size = None
            if size and container.tty:
                with contextlib.suppress(errors.KetchError, ConnectionError):
                    await shim.resize(*size)
            await shim.start()
        except errors.KetchError as exc:
            for session in sessions:
                session.close()
                session.end()
            entry.shim = None
            await shim.shutdown()
            # Its endpoints too: their published ports' rules and addresses outlive the
            # namespace, and nothing else would drop them.
            await self._disconnect(entry)
            await self._fail_start(entry, exc)
            raise start_error(exc) from None
        self._mark_running(entry, shim, rfc3339_nano())
        publish_container(self.events, container, "start")
        log.debug("started %s: spawn and network %.1f ms, attach and start %.1f ms",
                  container.short_id, (connected - begun) * 1000,
                  (time.monotonic() - connected) * 1000)  # fmt: skip
        self._watch(entry, shim, fresh_health=True)

    def _join_network_of(self, entry: Entry, other: str) -> None:
        target = self.table.get(other)
        if not target.container.running or not target.container.state.get("Pid"):
            raise errors.Conflict(
                f"cannot join network of a non running container: {target.container.id}"
            )
        join_namespace(entry.container, "network", f"/proc/{target.container.state['Pid']}/ns/net")

    def _join_pid_and_ipc_of(self, entry: Entry) -> None:
        """PidMode and IpcMode container:<name|id>: that running container's namespaces,
        with dockerd's checks and words (an IPC donor must be shareable)."""
        host_config = entry.container.host_config
        for key, kind, word, proc_name in (("PidMode", "pid", "PID", "pid"),
                                           ("IpcMode", "ipc", "IPC", "ipc")):  # fmt: skip
            mode = host_config.get(key) or ""
            if not mode.startswith("container:"):
                continue
            target = self.table.get(mode.partition(":")[2]).container
            if not target.running or not target.state.get("Pid"):
                raise errors.Conflict(
                    f"cannot join {word} of a non running container: {target.id}"
                )
            if kind == "ipc" and (target.host_config.get("IpcMode") or "") not in (
                "shareable", "host"
            ):
                raise errors.Conflict(
                    f"can't join IPC of container {target.id}: non-shareable IPC "
                    "(hint: use IpcMode:shareable for the donor container)"
                )
            join_namespace(entry.container, kind, f"/proc/{target.state['Pid']}/ns/{proc_name}")

    def _links(self, entry: Entry, plan: networking.NetworkPlan) -> list[str]:
        """Legacy links on the default bridge: each linked container must run; its address
        goes into this container's environment (written now, before the spawn reads it)
        and /etc/hosts. Returns the hosts lines."""
        requests = plan.requests[:1]
        if self.networks is None or not requests or not requests[0].links:
            return []
        if requests[0].network != networking.DEFAULT_BRIDGE:
            return []  # a user network's links are names its DNS answers this container
        found = []
        env: list[str] = []
        for text in requests[0].links:
            name, alias = networking.parse_link(text)
            target = self.table.get(name)
            child = target.container
            link_name = f"{entry.container.name}/{alias}"
            ip = next((e.ip for e in target.endpoints
                       if e.network_name == networking.DEFAULT_BRIDGE), "")  # fmt: skip
            if not child.running or not ip:
                raise errors.InvalidArgument(
                    f"Cannot link to a non running container: {child.name} AS {link_name}"
                )
            exposed = networking.exposed_ports(child.config)
            env += networking.link_env(alias, link_name, ip, exposed,
                                       list(child.config.get("Env") or []))  # fmt: skip
            names = " ".join(dict.fromkeys([alias, child.id[:12], child.name.lstrip("/")]))
            found.append(f"{ip}\t{names}\n")
        set_process_env(entry.container, env)
        return found

    def _make_namespace(self, entry: Entry, plan: networking.NetworkPlan) -> str | None:
        """The network namespace a container on a bridge joins (None for other modes)."""
        if self.networks is None or plan.mode != "bridge":
            return None
        path = str(entry.container.netns_path)
        try:
            self.networks.remove_namespace(path)  # one left by a start the daemon did not end
            self.networks.create_namespace(path)
        except OSError as exc:
            raise errors.Internal(f"failed to set up the container's network: {exc}") from exc
        return path

    async def _connect(
        self, entry: Entry, netns: str, plan: networking.NetworkPlan, links: list[str]
    ) -> None:
        """The container's endpoints, made in its namespace before its process starts; all
        or none (a port taken undoes the rest)."""
        if self.networks is None:
            return
        container = entry.container
        begun = time.monotonic()
        attached = []
        try:
            for index, request in enumerate(plan.requests):
                attached.append(await self.networks.attach(
                    container.id, container.name.lstrip("/"), netns, request,
                    plan.ports if index == 0 else (),
                ))  # fmt: skip
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await self.networks.detach(container.id)
            if isinstance(exc, Exception) and not isinstance(exc, errors.KetchError):
                raise errors.Internal(f"failed to set up the container's network: {exc}") from exc
            raise
        entry.endpoints = attached
        write_hosts(container, attached[0].ip if attached else "", self._host_gateway(), links)
        log.debug("network of %s in %.1f ms", container.short_id,
                  (time.monotonic() - begun) * 1000)  # fmt: skip

    def _host_gateway(self) -> str:
        """--add-host x:host-gateway: the default bridge's gateway, as dockerd's default."""
        if self.networks is None:
            return ""
        try:
            return self.networks.get(networking.DEFAULT_BRIDGE).gateway
        except errors.KetchError:
            return ""

    async def _disconnect(self, entry: Entry) -> None:
        """After the container's end: its endpoints dropped, its namespace let go of (the
        veths in it go with it)."""
        entry.endpoints = []
        if self.networks is None:
            return
        begun = time.monotonic()
        try:
            await self.networks.detach(entry.id, namespace_gone=True)
            self.release_namespace(entry)
            log.debug("detached %s in %.1f ms", entry.container.short_id,
                      (time.monotonic() - begun) * 1000)  # fmt: skip
        except Exception as exc:  # the container is over all the same
            log.warning("cannot detach %s from its networks: %s", entry.container.short_id, exc)

    def release_namespace(self, entry: Entry) -> None:
        if self.networks is not None:
            self.networks.remove_namespace(str(entry.container.netns_path))

    def _mark_running(self, entry: Entry, shim: Shim, started_at: str) -> None:
        container = entry.container
        container.shim_pid = shim.shim_pid
        container.shim_start_time = shim.shim_start_time
        container.has_been_started = True
        container.state.update(
            Status="running", Running=True, Paused=False, Restarting=False, OOMKilled=False,
            Dead=False, Pid=shim.pid, ExitCode=0, Error="", StartedAt=started_at,
        )  # fmt: skip
        container.save()

    def _record_failed_start(self, entry: Entry, message: str) -> None:
        code = 127 if "no such file" in message.lower() or "not found" in message else 128
        entry.container.state.update(Error=message, ExitCode=code, Status="created")
        entry.container.save()
        entry.end_pending_attaches()

    async def _fail_start(self, entry: Entry, exc: errors.KetchError) -> None:
        """Record why start failed, wake the waiters, and honour --rm as dockerd does."""
        code = getattr(exc, "exit_code", None) or 128
        entry.container.state.update(Error=exc.message, ExitCode=int(code), Status="created")
        entry.container.save()
        entry.wake(("not-running", "next-exit"))
        if entry.container.host_config.get("AutoRemove"):
            with contextlib.suppress(errors.KetchError):
                await self._auto_remove(entry)

    def _watch(self, entry: Entry, shim: Shim, fresh_health: bool) -> None:
        entry.shim = shim
        if not entry.endpoints and self.networks is not None:  # after a daemon restart
            entry.endpoints = self.networks.endpoints(entry.id)
        entry.watcher = asyncio.create_task(self._await_exit(entry, shim))
        self._start_health(entry, fresh=fresh_health)

    async def _await_exit(self, entry: Entry, shim: Shim) -> None:
        """Await the shim's exit report and record it."""
        try:
            status = await shim.wait()
        except Exception as exc:  # the shim died: its container ends with it
            log.warning("lost the shim of %s: %s", entry.container.short_id, exc)
            status = await self.shims.end_of_lost_shim(
                entry.container, self.settings.cgroup_parent
            )
        entry.watcher = None
        await self.record_exit(entry, status)

    async def record_exit(self, entry: Entry, status: Exit) -> None:
        container = entry.container
        # As dockerd: the run's leftovers go first (its shim, its endpoints), then the
        # container is stopped, so what a waiter does next (start, remove) meets none of them.
        entry.stop_health()
        await entry.end_shim()
        await self._disconnect(entry)
        container.state.update(
            Status="exited", Running=False, Paused=False, Pid=0, ExitCode=int(status.code),
            OOMKilled=bool(status.oom_killed), FinishedAt=status.finished_at or rfc3339_nano(),
            Error=status.error,
        )  # fmt: skip
        container.shim_pid = 0
        try:
            container.save()
        except OSError as exc:
            # A full disk: the exit is known here and told to waiters all the same; the
            # record on disk catches up at its next save (a restart asks the shim's state).
            log.error("cannot record the exit of %s: %s", container.short_id, exc)
        publish_container(self.events, container, "die", exitCode=str(int(status.code)))
        entry.wake(("not-running", "next-exit"))
        if container.host_config.get("AutoRemove"):
            with contextlib.suppress(errors.KetchError):
                await self._auto_remove(entry)
            return
        if restart.should_restart(
            container.host_config, int(status.code), container.restart_count,
            container.manually_stopped,
        ):  # fmt: skip
            self.restarts.schedule(entry)

    async def _restart_now(self, entry: Entry) -> None:
        container = entry.container
        if entry not in self.table or not container.state.get("Restarting"):
            return
        async with entry.lock:
            if container.running:
                return
            container.restart_count += 1
            try:
                await self.run(entry)
            except errors.KetchError as exc:
                log.warning("restart of %s failed: %s", container.short_id, exc.message)
                container.state.update(Restarting=False, Status="exited")
                container.save()

    # -- health -----------------------------------------------------------------------

    def _start_health(self, entry: Entry, fresh: bool) -> None:
        container = entry.container
        if probe_command(container.config.get("Healthcheck")) is None:
            return
        if fresh:
            container.state["Health"] = fresh_health()

        async def run_probe(_: Container, exec_id: str, config: dict[str, Any]) -> ExecProcess:
            if entry.shim is None:
                raise errors.Conflict(f"Container {entry.id} is not running")
            return await entry.shim.exec(exec_id, config, detach=False)

        def changed(_: Container, status: str) -> None:
            publish_container(self.events, container, f"health_status: {status}")

        entry.health = HealthMonitor(container, run_probe, changed)
        entry.health.start()

    # -- after a daemon restart -------------------------------------------------------

    async def restore(self, entry: Entry) -> None:
        """Reconnect a container's live shim; settle one that died or ended meanwhile."""
        container = entry.container
        shim = await self.shims.reconnect(container)
        if not container.running:
            if shim is not None:
                await self._settle_interrupted_start(entry, shim)
            elif container.host_config.get("AutoRemove") and container.has_been_started:
                await self._auto_remove(entry)
            elif container.state.get("Restarting") or (
                container.has_been_started
                and restart.should_restart(
                    container.host_config, int(container.state.get("ExitCode") or 0),
                    container.restart_count, container.manually_stopped,
                )
            ):  # fmt: skip
                self.restarts.schedule(entry)
            return
        if shim is None:  # its shim died while ketchd was away
            status = await self.shims.end_of_lost_shim(container, self.settings.cgroup_parent)
            await self.record_exit(entry, status)
        elif shim.exited is not None:
            # It exited while we were away; its shim lingers: settle it now.
            entry.shim = shim
            await self.record_exit(entry, shim.exited)
        else:
            self._watch(entry, shim, fresh_health=False)

    async def _settle_interrupted_start(self, entry: Entry, shim: Shim) -> None:
        """A live shim for a container the record says is not running: ketchd was killed
        inside a start, after the spawn and before the record said "running". The record
        is made to tell the truth: a process that was started is adopted (its exit then
        recorded if it is already over); one that never ran is discarded with its shim."""
        container = entry.container
        state = await shim.state()
        started = state.get("status") in ("running", "paused")
        ended_unrecorded = state.get("status") == "exited" and container.state.get("Status") in (
            "created",
            "",
        )
        if not started and not ended_unrecorded:
            if shim.exited is not None:
                await shim.close()  # an earlier run's shim, lingering: let it go
            else:
                await shim.shutdown()
            return
        self._mark_running(entry, shim, state.get("started_at") or rfc3339_nano())
        log.info("adopted %s, started as ketchd went down", container.short_id)
        if shim.exited is not None:
            entry.shim = shim
            await self.record_exit(entry, shim.exited)
            return
        self._watch(entry, shim, fresh_health=False)

    async def close(self) -> None:
        """Stop watching; the shims and their containers keep running."""
        for entry in self.table:
            entry.stop_health()
            entry.cancel_restart_timer()
            if entry.watcher is not None:
                entry.watcher.cancel()
                entry.watcher = None
            await entry.let_go_of_shim()
        await self.shims.close()


def start_error(exc: errors.KetchError) -> errors.KetchError:
    """Docker's wording; a command that cannot run is the caller's mistake (400)."""
    message = f"failed to create task for container: {exc.message}: unknown"
    if getattr(exc, "kind", "") == "start":
        return errors.InvalidArgument(message)
    return type(exc)(message) if type(exc) is not errors.KetchError else exc


__all__ = ["WAIT_CONDITIONS", "RunSettings", "Supervisor", "start_error"]


async def _outcome(awaitable: Awaitable[Shim]) -> Shim | BaseException:
    """What gather(return_exceptions=True) gives for one awaitable."""
    try:
        return await awaitable
    except Exception as exc:
        return exc
