"""ContainerService: create, start, stop, wait, remove, logs, attach, exec, restore.

Every running container has one watcher task awaiting its shim's exit report;
there are no threads per container. Containers outlive the daemon: restore()
reconnects to the shims that are still alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import shutil
import signal as signals
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ketch import errors
from ketch.atomicfile import write_json as write_json_atomically
from ketch.containers import hostconfig, merge, names, restart, schema, views
from ketch.containers import users as container_users
from ketch.containers.attach import AttachSession
from ketch.containers.bundle import build_spec
from ketch.containers.etcfiles import write_etc_files
from ketch.containers.events import EventBus
from ketch.containers.execs import ExecMixin, ExecRecord
from ketch.containers.files import FilesMixin
from ketch.containers.filters import matches_filters, normalise_filters
from ketch.containers.filters import validate as validate_filters
from ketch.containers.health import HealthMonitor, fresh_health, probe_command
from ketch.containers.logs import read_logs
from ketch.containers.record import Container
from ketch.containers.shims import ShimBackend, log_driver
from ketch.timestamps import rfc3339_nano as now_rfc3339

log = logging.getLogger("ketch.containers")

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


class ContainerService(ExecMixin, FilesMixin):
    def __init__(
        self,
        root: Path,
        exec_root: Path,
        images: Any,
        snapshots: Any,
        shims: ShimBackend,
        *,
        cgroup_parent: str = "ketch",
        log_max_size: int = 10 * 1024 * 1024,
        log_max_files: int = 3,
        seccomp_profile: dict[str, Any] | None = None,
        init_path: str | None = None,
    ) -> None:
        self.root = root
        self.exec_root = exec_root
        self.images = images
        self.snapshots = snapshots
        self.shims = shims
        self.cgroup_parent = cgroup_parent
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self.seccomp_profile = seccomp_profile
        self.init_path = init_path
        self.root.mkdir(parents=True, exist_ok=True)
        self.events = EventBus()
        self._containers: dict[str, Container] = {}
        self._by_name: dict[str, str] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._waiters: dict[str, list[tuple[str, asyncio.Future[dict[str, Any]]]]] = {}
        self._pending_attaches: dict[str, list[AttachSession]] = {}
        self._execs: dict[str, ExecRecord] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending_sizes: dict[str, tuple[int, int]] = {}
        self._restart_delays: dict[str, float] = {}
        self._health: dict[str, HealthMonitor] = {}
        self._restart_timers: dict[str, asyncio.TimerHandle] = {}

    # -- lookup --------------------------------------------------------------

    def get(self, name_or_id: str) -> Container:
        """Docker's order: full id, then name, then unique id prefix."""
        key = name_or_id.lstrip("/") if name_or_id else name_or_id
        if not key:
            raise errors.no_such_container(name_or_id)
        if key in self._containers:
            return self._containers[key]
        if "/" + key in self._by_name:
            return self._containers[self._by_name["/" + key]]
        matches = [cid for cid in self._containers if cid.startswith(key)]
        if len(matches) == 1:
            return self._containers[matches[0]]
        if len(matches) > 1:
            raise errors.InvalidArgument(f"multiple IDs found with provided prefix: {key}")
        raise errors.no_such_container(name_or_id)

    def _lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    def counts(self) -> dict[str, int]:
        running = sum(1 for c in self._containers.values() if c.running and not c.state["Paused"])
        paused = sum(1 for c in self._containers.values() if c.state.get("Paused"))
        total = len(self._containers)
        return {
            "Containers": total,
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": total - running - paused,
        }

    def in_use(self, chain_id: str) -> bool:
        return any(c.chain_id == chain_id for c in self._containers.values())

    def image_in_use(self, image_id: str) -> list[str]:
        return [c.id for c in self._containers.values() if c.image_id == image_id]

    def image_user(self, image_id: str) -> str | None:
        """A container made from the image, if any (the image service's removal check)."""
        users = self.image_in_use(image_id)
        return users[0] if users else None

    def image_running_user(self, image_id: str) -> str | None:
        for container in self._containers.values():
            if container.image_id == image_id and container.running:
                return container.id
        return None

    def _image_name(self, container: Container) -> str:
        return container.config.get("Image") or container.image_id

    def _event(self, container: Container, action: str, **extra: str) -> None:
        attributes = {
            **{str(k): str(v) for k, v in (container.config.get("Labels") or {}).items()},
            "image": self._image_name(container),
            "name": container.name.lstrip("/"),
            **extra,
        }
        self.events.publish("container", action, container.id, attributes)

    # -- create --------------------------------------------------------------

    async def create(
        self,
        name: str | None,
        config: dict[str, Any],
        host_config: dict[str, Any] | None = None,
        networking_config: dict[str, Any] | None = None,
    ) -> tuple[str, list[str]]:
        schema.check("Config", config, schema.CONFIG)
        schema.check("HostConfig", host_config, schema.HOST_CONFIG)
        schema.check("NetworkingConfig", networking_config, {"EndpointsConfig": schema.OBJ})
        host_config = dict(host_config or {})
        image_name = config.get("Image") or ""
        if not image_name:
            raise errors.InvalidArgument("config cannot be empty in order to create a container")
        restart.validate(host_config)
        hostconfig.validate(host_config)
        try:
            image = self.images.get(image_name)
        except errors.NotFound:
            raise errors.no_such_image(familiar(image_name)) from None
        image_config = dict((image.config or {}).get("config") or {})
        merged = merge.merge_config(image_config, config)
        path, args = merge.command_of(merged)
        merge.parse_signal(merged.get("StopSignal"))
        if name:
            stored_name = names.validate(name)
            self._check_name_free(stored_name)
        else:
            stored_name = self._fresh_name()
        container_id = names.new_id()
        while container_id in self._containers:
            container_id = names.new_id()
        merged["Hostname"] = merged.get("Hostname") or container_id[:12]
        chain_id = (
            self.images.snapshot_for(image)
            if hasattr(self.images, "snapshot_for")
            else (image.chain_id)
        )
        directory = self.root / container_id
        directory.mkdir(mode=0o710)
        container = Container(
            id=container_id,
            name=stored_name,
            created=now_rfc3339(),
            path=path,
            args=args,
            config=merged,
            host_config=host_config,
            image_id=image.id,
            directory=directory,
            networking_config=dict(networking_config or {}),
            chain_id=chain_id,
        )
        try:
            self._write_etc_files(container)
            self._write_bundle(container, self._layer_dirs(chain_id))
            container.save()
        except BaseException as exc:
            shutil.rmtree(directory, ignore_errors=True)
            if errors.is_storage_error(exc):  # say where: a failed write() names no file
                raise errors.storage_error(exc, directory) from None  # type: ignore[arg-type]
            raise
        self._containers[container_id] = container
        self._by_name[stored_name] = container_id
        self._event(container, "create")
        return container_id, []

    def _check_name_free(self, stored_name: str) -> None:
        holder = self._by_name.get(stored_name)
        if holder is not None:
            raise errors.Conflict(
                f'Conflict. The container name "{stored_name}" is already in use by container '
                f'"{holder}". You have to remove (or rename) that container to be able to reuse '
                f"that name."
            )

    def _fresh_name(self) -> str:
        for attempt in range(20):
            candidate = "/" + names.random_name(retry=attempt // 5)
            if candidate not in self._by_name:
                return candidate
        return "/" + names.new_id()[:16]

    def _layer_dirs(self, chain_id: str | None) -> list[Path]:
        dirs: list[Path] = []
        while chain_id:
            dirs.append(self.snapshots.layer_path(chain_id))
            chain_id = self.snapshots.layer(chain_id).parent
        return dirs

    def _write_etc_files(self, container: Container) -> None:
        write_etc_files(container)

    def _write_bundle(self, container: Container, layer_dirs: list[Path]) -> None:
        uid, gid, extra_gids = container_users.resolve(container.config.get("User", ""), layer_dirs)
        spec = build_spec(
            path=container.path,
            args=container.args,
            config=container.config,
            host_config=container.host_config,
            uid=uid,
            gid=gid,
            additional_gids=extra_gids,
            container_dir=str(container.directory),
            nofile_hard=nofile_hard_limit(),
            seccomp_profile=self.seccomp_profile,
            init_path=self.init_path,
        )
        container.bundle.mkdir(exist_ok=True)
        (container.bundle / "rootfs").mkdir(exist_ok=True)
        write_json_atomically(container.bundle / "config.json", spec)

    # -- inspect and list ------------------------------------------------------

    def inspect(self, name_or_id: str, size: bool = False) -> dict[str, Any]:
        container = self.get(name_or_id)
        view = views.inspect_view(
            container, self._image_name(container), self._graph_driver(container)
        )
        if size:
            view["SizeRw"] = self.size_rw(container)
            view["SizeRootFs"] = view["SizeRw"] + self._image_size(container)
        return view

    def _graph_driver(self, container: Container) -> dict[str, Any]:
        """overlay2's four directories, as dockerd names them; the merged view is the
        bundle's rootfs, mounted inside the container's own mount namespace."""
        snapshot = self.snapshots.snapshot_path(container.id)
        data = {
            "MergedDir": str(container.bundle / "rootfs"),
            "UpperDir": str(snapshot / "upper"),
            "WorkDir": str(snapshot / "work"),
        }
        try:
            lowers = self._layer_dirs(container.chain_id)
        except errors.NotFound:  # a layer removed underneath: still answer inspect
            lowers = []
        if lowers:
            data["LowerDir"] = ":".join(str(d) for d in lowers)
        return {"Name": "overlay2", "Data": data}

    def list(
        self,
        all: bool = False,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        size: bool = False,
    ) -> list[dict[str, Any]]:
        filters = normalise_filters(filters)
        validate_filters(filters)
        chosen = sorted(self._containers.values(), key=lambda c: c.created, reverse=True)
        if not all and not filters.get("status") and not filters.get("exited"):
            chosen = [c for c in chosen if c.running]
        chosen = [c for c in chosen if matches_filters(c, filters)]
        chosen = self._created_window(chosen, filters)
        if limit is not None and limit > 0:
            chosen = chosen[:limit]
        now = time.time()
        rows = [views.list_view(c, self._image_name(c), now) for c in chosen]
        if size:
            for row, container in zip(rows, chosen, strict=True):
                row["SizeRw"] = self.size_rw(container)
                row["SizeRootFs"] = row["SizeRw"] + self._image_size(container)
        return rows

    def _created_window(
        self, chosen: list[Container], filters: dict[str, list[str]]
    ) -> list[Container]:
        """Docker's before=/since= filters: created before or after the named container."""
        for key in ("before", "since"):
            for value in filters.get(key, []):
                pivot = self.get(value).created
                chosen = [c for c in chosen if (c.created < pivot if key == "before"
                                                else c.created > pivot)]  # fmt: skip
        return chosen

    def _image_size(self, container: Container) -> int:
        try:
            return int(self.images.get(container.image_id).size)
        except errors.KetchError:
            return 0

    # -- start ------------------------------------------------------------------

    async def start(self, name_or_id: str) -> None:
        container = self.get(name_or_id)
        async with self._lock(container.id):
            if container.running:
                raise errors.NotModified("container already started")
            self._cancel_restart(container)
            container.manually_stopped = False
            if container.state.get("RemovalInProgress"):
                raise errors.Conflict(f"container {container.id} is marked for removal")
            await self._start_locked(container)

    async def _start_locked(self, container: Container) -> None:
        begun = time.monotonic()
        mounts = self.snapshots.prepare(container.id, container.chain_id)
        try:
            handle = await self.shims.spawn(
                container,
                rootfs_mounts=[m.to_dict() for m in mounts],
                cgroup_parent=self.cgroup_parent,
                log_max_size=self.log_max_size,
                log_max_files=self.log_max_files,
            )
        except errors.KetchError as exc:
            self._record_failed_start(container, exc.message)
            raise
        except Exception as exc:
            self._record_failed_start(container, str(exc))
            raise errors.Internal(f"failed to create task for container: {exc}") from exc
        spawned = time.monotonic()
        sessions = self._pending_attaches.pop(container.id, [])
        try:
            for session in sessions:
                reader, writer = await handle.attach(
                    session.want_stdin, session.want_stdout, session.want_stderr
                )
                await session.connect(reader, writer)
            size = self._pending_sizes.pop(container.id, None) or merge.console_size(
                container.host_config.get("ConsoleSize")
            )
            if size and container.tty:
                with contextlib.suppress(errors.KetchError, ConnectionError):
                    await handle.connection.resize(*size)
            await handle.start()
        except errors.KetchError as exc:
            for session in sessions:
                session.close()
                session.end()
            await self.shims.discard(container)
            await self._fail_start(container, exc)
            raise self._start_error(exc) from None
        container.shim_pid = handle.shim_pid
        container.shim_start_time = handle.shim_start_time
        container.has_been_started = True
        container.state.update(
            Status="running",
            Running=True,
            Paused=False,
            Restarting=False,
            OOMKilled=False,
            Dead=False,
            Pid=handle.pid,
            ExitCode=0,
            Error="",
            StartedAt=now_rfc3339(),
        )
        container.save()
        self._event(container, "start")
        self._watchers[container.id] = asyncio.create_task(self._watch(container, handle))
        log.debug("started %s: spawn %.1f ms, attach and start %.1f ms", container.short_id,
                  (spawned - begun) * 1000, (time.monotonic() - spawned) * 1000)  # fmt: skip
        self._start_health(container, fresh=True)

    @staticmethod
    def _start_error(exc: errors.KetchError) -> errors.KetchError:
        """Docker's wording; a command that cannot run is the caller's mistake (400)."""
        message = f"failed to create task for container: {exc.message}: unknown"
        if getattr(exc, "kind", "") == "start":
            return errors.InvalidArgument(message)
        return type(exc)(message) if type(exc) is not errors.KetchError else exc

    async def _fail_start(self, container: Container, exc: errors.KetchError) -> None:
        """Record why start failed, wake the waiters, and honour --rm as dockerd does."""
        code = getattr(exc, "exit_code", None) or 128
        container.state.update(Error=exc.message, ExitCode=int(code), Status="created")
        container.save()
        self._wake(container.id, ("not-running", "next-exit"), self._wait_body(container))
        if container.host_config.get("AutoRemove"):
            with contextlib.suppress(errors.KetchError):
                await self._remove(container)

    def _start_health(self, container: Container, fresh: bool) -> None:
        if probe_command(container.config.get("Healthcheck")) is None:
            return
        if fresh:
            container.state["Health"] = fresh_health()
        monitor = HealthMonitor(container, self._health_exec, self._health_changed)
        self._health[container.id] = monitor
        monitor.start()

    def _stop_health(self, container: Container) -> None:
        monitor = self._health.pop(container.id, None)
        if monitor is not None:
            monitor.stop()

    async def _health_exec(self, container: Container, exec_id: str, config: dict[str, Any]) -> Any:
        return await self.shims.exec(container, exec_id, config, detach=False)

    def _health_changed(self, container: Container, status: str) -> None:
        self._event(container, f"health_status: {status}")

    def _record_failed_start(self, container: Container, message: str) -> None:
        code = 127 if "no such file" in message.lower() or "not found" in message else 128
        container.state.update(Error=message, ExitCode=code, Status="created")
        container.save()
        for session in self._pending_attaches.pop(container.id, []):
            session.end()

    async def _watch(self, container: Container, handle: Any) -> None:
        """Await the shim's exit report, record it, wake waiters, honour --rm."""
        try:
            status = await handle.wait()
        except Exception as exc:  # the shim vanished: treat as a dead container
            log.warning("lost the shim of %s: %s", container.short_id, exc)
            status = self.shims.exit_from_state_file(container)
        finally:
            self._watchers.pop(container.id, None)
        await self._record_exit(container, status)

    async def _record_exit(self, container: Container, status: Any) -> None:
        container.state.update(
            Status="exited",
            Running=False,
            Paused=False,
            Pid=0,
            ExitCode=int(status.code),
            OOMKilled=bool(status.oom_killed),
            FinishedAt=status.finished_at or now_rfc3339(),
        )
        container.shim_pid = 0
        try:
            container.save()
        except OSError as exc:
            # A full disk: the exit is known here and told to waiters all the same; the
            # record on disk catches up at its next save (a restart asks the shim's state).
            log.error("cannot record the exit of %s: %s", container.short_id, exc)
        self._stop_health(container)
        # Let go of the shim: with no client left it lingers briefly, then exits.
        self.shims.forget(container)
        self._event(container, "die", exitCode=str(int(status.code)))
        self._wake(container.id, ("not-running", "next-exit"), self._wait_body(container))
        if container.host_config.get("AutoRemove"):
            with contextlib.suppress(errors.KetchError):
                await self._remove(container)
            return
        if restart.should_restart(
            container.host_config, int(status.code), container.restart_count,
            container.manually_stopped,
        ):  # fmt: skip
            self._schedule_restart(container)

    def _schedule_restart(self, container: Container) -> None:
        """Restart after dockerd's backoff; a timer, not a task sleeping per container."""
        from ketch.timestamps import parse_rfc3339 as parse_time

        started = parse_time(container.state.get("StartedAt")) or 0.0
        finished = parse_time(container.state.get("FinishedAt")) or time.time()
        delay = restart.next_delay(self._restart_delays.get(container.id, 0.0), finished - started)
        self._restart_delays[container.id] = delay
        container.state.update(Restarting=True, Status="restarting")
        container.save()
        loop = asyncio.get_running_loop()
        self._restart_timers[container.id] = loop.call_later(
            delay, lambda: asyncio.ensure_future(self._restart_now(container))
        )

    async def _restart_now(self, container: Container) -> None:
        self._restart_timers.pop(container.id, None)
        if container.id not in self._containers or not container.state.get("Restarting"):
            return
        async with self._lock(container.id):
            if container.running:
                return
            container.restart_count += 1
            try:
                await self._start_locked(container)
            except errors.KetchError as exc:
                log.warning("restart of %s failed: %s", container.short_id, exc.message)
                container.state.update(Restarting=False, Status="exited")
                container.save()

    def _cancel_restart(self, container: Container) -> None:
        timer = self._restart_timers.pop(container.id, None)
        if timer is not None:
            timer.cancel()
        if container.state.get("Restarting"):
            container.state.update(Restarting=False, Status="exited")
            container.save()

    @staticmethod
    def _wait_body(container: Container) -> dict[str, Any]:
        # A start that failed was already reported by the start request itself; the CLI
        # would print it a second time as "Error waiting for container". No error: no
        # "Error" key at all, as dockerd's omitempty leaves it out.
        return {"StatusCode": container.state["ExitCode"]}

    def _wake(self, container_id: str, conditions: tuple[str, ...], body: dict[str, Any]) -> None:
        remaining = []
        for condition, future in self._waiters.get(container_id, []):
            if condition in conditions:
                if not future.done():
                    future.set_result(body)
            else:
                remaining.append((condition, future))
        self._waiters[container_id] = remaining

    # -- wait ---------------------------------------------------------------------

    def wait_for(self, name_or_id: str, condition: str = "not-running") -> asyncio.Future[Any]:
        """Register a waiter now (before start) and return what to await later."""
        if not condition:
            condition = "not-running"
        if condition not in WAIT_CONDITIONS:
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        container = self.get(name_or_id)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not container.running:
            future.set_result(self._wait_body(container))
        else:
            self._waiters.setdefault(container.id, []).append((condition, future))
        return future

    async def wait(self, name_or_id: str, condition: str = "not-running") -> dict[str, Any]:
        return await self.wait_for(name_or_id, condition)

    # -- stop, kill, restart --------------------------------------------------------

    async def kill(self, name_or_id: str, signal: str | int | None = None) -> None:
        container = self.get(name_or_id)
        number = merge.parse_signal(signal, default=int(signals.SIGKILL))
        if number in (int(signals.SIGKILL), int(signals.SIGTERM)):
            container.manually_stopped = True  # as dockerd: no restart after an explicit kill
        if not container.running:
            raise errors.Conflict(f"Cannot kill container: {name_or_id}: container "
                                  f"{container.id} is not running")  # fmt: skip
        await self.shims.kill(container, number)
        self._event(container, "kill", signal=str(number))

    async def stop(self, name_or_id: str, timeout: int | None = None,
                   signal: str | None = None) -> None:  # fmt: skip
        container = self.get(name_or_id)
        container.manually_stopped = True
        if not container.running:
            self._cancel_restart(container)
            raise errors.NotModified("container already stopped")
        await self._stop(container, timeout, signal)
        self._event(container, "stop")

    async def _stop(self, container: Container, timeout: int | None, signal: str | None) -> None:
        if timeout is None:
            timeout = container.config.get("StopTimeout")
            timeout = 10 if timeout is None else int(timeout)
        stop_signal = merge.parse_signal(signal or container.config.get("StopSignal"))
        exited = self.wait_for(container.id, "not-running")
        if container.state.get("Paused"):
            with contextlib.suppress(errors.KetchError, ConnectionError):
                await self.shims.call(container, "resume")
            container.state.update(Paused=False, Status="running")
        with contextlib.suppress(errors.KetchError, ConnectionError):
            await self.shims.kill(container, stop_signal)
        if timeout < 0:
            await exited
            return
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout)
            return
        except TimeoutError:
            pass
        with contextlib.suppress(errors.KetchError, ConnectionError):
            await self.shims.kill(container, int(signals.SIGKILL))
        await exited

    async def restart(self, name_or_id: str, timeout: int | None = None,
                      signal: str | None = None) -> None:  # fmt: skip
        container = self.get(name_or_id)
        if container.running:
            await self._stop(container, timeout, signal)
        async with self._lock(container.id):
            if not container.running:
                self._cancel_restart(container)
                container.manually_stopped = False
                await self._start_locked(container)

    # -- remove -------------------------------------------------------------------------

    async def remove(self, name_or_id: str, force: bool = False, volumes: bool = False) -> None:
        container = self.get(name_or_id)
        if container.running:
            if not force:
                raise errors.Conflict(
                    f'cannot remove container "{container.name}": container is running: stop '
                    f"the container before removing or force remove"
                )
            exited = self.wait_for(container.id, "not-running")
            with contextlib.suppress(errors.KetchError, ConnectionError):
                await self.shims.kill(container, int(signals.SIGKILL))
            await exited
            if container.id not in self._containers:
                return  # AutoRemove already took it
        await self._remove(container)

    async def _remove(self, container: Container) -> None:
        if container.state.get("RemovalInProgress"):
            return
        container.state["RemovalInProgress"] = True
        self._stop_health(container)
        self._cancel_restart(container)
        self._restart_delays.pop(container.id, None)
        self._containers.pop(container.id, None)
        self._by_name.pop(container.name, None)
        self.shims.forget(container)
        with contextlib.suppress(errors.NotFound):
            await asyncio.to_thread(self.snapshots.remove, container.id)
        await asyncio.to_thread(shutil.rmtree, container.directory, True)
        for session in self._pending_attaches.pop(container.id, []):
            session.end()
        self._wake(container.id, WAIT_CONDITIONS, self._wait_body(container))
        self._waiters.pop(container.id, None)
        self._event(container, "destroy")
        self._locks.pop(container.id, None)

    # -- update -----------------------------------------------------------------------

    UPDATABLE = ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuQuota",
                 "CpuPeriod", "CpuShares", "CpusetCpus", "CpusetMems", "PidsLimit",
                 "RestartPolicy")  # fmt: skip

    async def update(self, name_or_id: str, changes: dict[str, Any]) -> list[str]:
        """`docker update`: new limits and restart policy, applied at once if running."""
        schema.check("UpdateConfig", changes, {**schema.HOST_CONFIG, "RestartPolicy": schema.OBJ})
        container = self.get(name_or_id)
        changes = dict(changes)
        if not (changes.get("RestartPolicy") or {}).get("Name"):
            changes.pop("RestartPolicy", None)  # the CLI sends an empty one: keep the old
        unknown = sorted(k for k, v in changes.items() if v and k not in self.UPDATABLE)
        if unknown:
            raise errors.NotImplementedYet(f"updating {', '.join(unknown)} is not supported")
        merged = dict(container.host_config)
        merged.update({k: v for k, v in changes.items() if k in self.UPDATABLE and v})
        if changes.get("NanoCpus") and not changes.get("CpuQuota"):
            merged.pop("CpuQuota", None)
            merged.pop("CpuPeriod", None)
        hostconfig.validate(merged)
        restart.validate(merged)
        container.host_config = merged
        self._write_bundle(container, self._layer_dirs(container.chain_id))
        container.save()
        if container.running:
            from ketch.containers.bundle import resources_of
            from ketch.runtime import cgroups

            # create() on an existing cgroup writes the limits into it.
            await asyncio.to_thread(
                cgroups.create, self.cgroup_parent, container.id, resources_of(merged)
            )
        self._event(container, "update")
        return []

    # -- pause, rename, prune, top ----------------------------------------------------

    async def pause(self, name_or_id: str) -> None:
        container = self.get(name_or_id)
        if not container.running:
            raise errors.Conflict(f"Container {container.id} is not running")
        if container.state.get("Paused"):
            raise errors.Conflict(f"Container {container.id} is already paused")
        await self.shims.call(container, "pause")
        container.state.update(Paused=True, Status="paused")
        container.save()
        self._event(container, "pause")

    async def unpause(self, name_or_id: str) -> None:
        container = self.get(name_or_id)
        if not container.state.get("Paused"):
            raise errors.Conflict(f"Container {container.id} is not paused")
        await self.shims.call(container, "resume")
        container.state.update(Paused=False, Status="running")
        container.save()
        self._event(container, "unpause")

    def rename(self, name_or_id: str, new_name: str) -> None:
        container = self.get(name_or_id)
        if not new_name:
            raise errors.InvalidArgument("Neither old nor new names may be empty")
        stored = names.validate(new_name)
        if stored == container.name:
            raise errors.InvalidArgument(
                "Renaming a container with the same name as its current name"
            )
        self._check_name_free(stored)
        self._by_name.pop(container.name, None)
        old_name = container.name
        container.name = stored
        self._by_name[stored] = container.id
        container.save()
        self._event(container, "rename", oldName=old_name)

    async def prune(self, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        normal = normalise_filters(filters)
        deleted: list[str] = []
        for container in list(self._containers.values()):
            if container.running or container.state.get("Restarting"):
                continue
            if not matches_filters(container, {k: v for k, v in normal.items() if k == "label"}):
                continue
            await self._remove(container)
            deleted.append(container.id)
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": 0}

    async def stats(self, name_or_id: str, stream: bool, one_shot: bool = False
                    ) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """Samples a second apart, as dockerd sends them; a stopped container gives zeros."""
        from ketch.containers import stats

        container = self.get(name_or_id)
        paths = stats.CgroupPaths(self.cgroup_parent, container.id)
        zero_time = "0001-01-01T00:00:00Z"
        before: dict[str, Any] | None = None
        before_at = zero_time
        if not stream and not one_shot and container.running:
            before, before_at = stats.sample(paths), stats.now_stamp()
            await asyncio.sleep(1)
        while True:
            now_at = stats.now_stamp()
            now = stats.sample(paths) if container.running else None
            if now is None:
                now = {"cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {},
                       "pids_stats": {}}  # fmt: skip
                now_at = zero_time
            yield stats.stats_body(container.id, container.name, now, before, now_at, before_at)
            if not stream or not container.running or container.id not in self._containers:
                return
            before, before_at = now, now_at
            await asyncio.sleep(1)

    def top(self, name_or_id: str, ps_args: str = "") -> dict[str, Any]:
        from ketch.containers.top import top

        container = self.get(name_or_id)
        if not container.running:
            raise errors.Conflict(f"Container {container.id} is not running")
        return top(self.cgroup_parent, container.id, ps_args)

    # -- logs, attach, resize ---------------------------------------------------------

    def logs(
        self,
        name_or_id: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> tuple[Container, AsyncIterator[tuple[int, bytes]]]:
        container = self.get(name_or_id)
        if not stdout and not stderr:
            raise errors.InvalidArgument("You must choose at least one stream")
        if log_driver(container) == "none":
            raise errors.NotImplementedYet("configured logging driver does not support reading")
        streams = ({1} if stdout else set()) | ({2} if stderr else set())

        def still_running() -> bool:
            return container.running and container.id in self._containers

        return container, read_logs(
            container.log_path, streams=streams, tail=tail, since=since, until=until,
            timestamps=timestamps, follow=follow, still_running=still_running,
        )  # fmt: skip

    async def attach(
        self, name_or_id: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[Container, AttachSession]:
        container = self.get(name_or_id)
        session = AttachSession(stdin=stdin, stdout=stdout, stderr=stderr)
        if container.running:
            reader, writer = await self.shims.attach(container, stdin, stdout, stderr)
            await session.connect(reader, writer)
        else:
            self._pending_attaches.setdefault(container.id, []).append(session)
        return container, session

    async def resize(self, name_or_id: str, height: int, width: int) -> None:
        container = self.get(name_or_id)
        if not container.running:
            # The CLI may resize between create and start: keep it for the start.
            self._pending_sizes[container.id] = (height, width)
            return
        await self.shims.resize(container, height, width)

    # -- restore ------------------------------------------------------------------------------

    async def _settle_interrupted_start(self, container: Container, handle: Any) -> None:
        """A live shim for a container the record says is not running: ketchd was killed
        inside a start, after the spawn and before the record said "running". The record
        is made to tell the truth: a process that was started is adopted (its exit then
        recorded if it is already over); one that never ran is discarded with its shim."""
        state = await handle.connection.state()
        started = state.get("status") in ("running", "paused")
        ended_unrecorded = state.get("status") == "exited" and container.state.get("Status") in (
            "created",
            "",
        )
        if not started and not ended_unrecorded:
            if handle.exited is not None:
                self.shims.forget(container)  # an earlier run's shim, lingering: let it go
            else:
                await self.shims.discard(container)
            return
        container.shim_pid = handle.shim_pid
        container.shim_start_time = handle.shim_start_time
        container.has_been_started = True
        container.state.update(
            Status="running", Running=True, Paused=False, Restarting=False, OOMKilled=False,
            Dead=False, Pid=handle.pid, ExitCode=0, Error="",
            StartedAt=state.get("started_at") or now_rfc3339(),
        )  # fmt: skip
        container.save()
        log.info("adopted %s, started as ketchd went down", container.short_id)
        if handle.exited is not None:
            await self._record_exit(container, handle.exited)
            return
        self._watchers[container.id] = asyncio.create_task(self._watch(container, handle))
        self._start_health(container, fresh=False)

    async def restore(self) -> None:
        """Load every record; reconnect live shims; settle those that died meanwhile."""
        for directory in sorted(self.root.iterdir()):
            if not (directory / "config.v2.json").is_file():
                continue
            try:
                container = Container.load(directory)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("skipping unreadable container %s: %s", directory.name, exc)
                continue
            self._containers[container.id] = container
            self._by_name[container.name] = container.id
        for container in list(self._containers.values()):
            if not container.running and (handle := await self.shims.reconnect(container)):
                await self._settle_interrupted_start(container, handle)
                continue
            if container.running:
                handle = await self.shims.reconnect(container)
                if handle is not None and handle.exited is not None:
                    # It exited while we were away; its shim lingers: settle it now.
                    await self._record_exit(container, handle.exited)
                    continue
                if handle is not None:
                    self._watchers[container.id] = asyncio.create_task(
                        self._watch(container, handle)
                    )
                    self._start_health(container, fresh=False)
                    continue
                await self._record_exit(container, self.shims.exit_from_state_file(container))
            elif container.host_config.get("AutoRemove") and container.has_been_started:
                await self._remove(container)
            elif container.state.get("Restarting") or (
                container.has_been_started
                and restart.should_restart(
                    container.host_config, int(container.state.get("ExitCode") or 0),
                    container.restart_count, container.manually_stopped,
                )
            ):  # fmt: skip
                self._schedule_restart(container)

    async def close(self) -> None:
        """Stop watching; the shims and their containers keep running."""
        for monitor in list(self._health.values()):
            monitor.stop()
        for task in list(self._watchers.values()):
            task.cancel()
        self._watchers.clear()
        await self.shims.close()


def familiar(name: str) -> str:
    """Docker names a missing image as the CLI will pull it: "hello-world:latest"."""
    from ketch.oci import reference

    if reference.is_digest_id(name):
        return name
    try:
        return reference.parse(name).familiar()
    except errors.KetchError:
        return name


def nofile_hard_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]
