"""ContainerService: Docker's container lifecycle — create, start, stop, kill, restart, wait,
remove, pause, rename, update, prune — and the views of it (inspect, list, logs, stats).

It composes the parts that do the rest: the table of containers (one record each),
the supervisor (a run under a shim, exits, health, restarts, restore), execs and files.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import errno
import logging
import os
import shutil
import signal as signals
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ketch import errors
from ketch.containers import hostconfig, merge, names, networking, restart, schema, views
from ketch.containers.attach import AttachSession
from ketch.containers.bundle import (
    BundleSettings,
    resources_of,
    write_bundle,
    write_bundle_unless_user_unknown,
)
from ketch.containers.contracts import Images, Networks, ShimManager, Snapshotter
from ketch.containers.entry import WAIT_CONDITIONS, Entry
from ketch.containers.etcfiles import write_etc_files
from ketch.containers.events import EventBus, publish_container
from ketch.containers.execs import ExecService
from ketch.containers.files import FileService
from ketch.containers.filters import matches_filters, normalise_filters, prune_matches
from ketch.containers.filters import validate as validate_filters
from ketch.containers.logs import read_logs
from ketch.containers.mountpoints import MountPoint
from ketch.containers.netservice import ContainerNetworking
from ketch.containers.record import Container
from ketch.containers.supervisor import RunSettings, Supervisor
from ketch.containers.table import ContainerTable
from ketch.containers.volservice import ContainerVolumes
from ketch.timestamps import rfc3339_nano
from ketch.volumes import VolumeStore

log = logging.getLogger("ketch.containers")

# How long a SIGKILL waits for the container to be down before it answers anyway.
KILL_WAIT = 10.0

UPDATABLE = ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuQuota", "CpuPeriod",
             "CpuShares", "CpusetCpus", "CpusetMems", "PidsLimit", "RestartPolicy")  # fmt: skip
# The Engine API's UpdateConfig: Resources and RestartPolicy. Other keys are not read, as
# dockerd's decoder does not read them; Resources ketch cannot change yet are refused.
UPDATE_CONFIG = frozenset({
    "BlkioDeviceReadBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteBps", "BlkioDeviceWriteIOps",
    "BlkioWeight", "BlkioWeightDevice", "CgroupParent", "CpuCount", "CpuPercent", "CpuPeriod",
    "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpuShares", "CpusetCpus",
    "CpusetMems", "DeviceCgroupRules", "DeviceRequests", "Devices", "IOMaximumBandwidth",
    "IOMaximumIOps", "Init", "KernelMemoryTCP", "Memory", "MemoryReservation", "MemorySwap",
    "MemorySwappiness", "NanoCpus", "OomKillDisable", "PidsLimit", "Ulimits", "RestartPolicy",
})  # fmt: skip


class ContainerService:
    def __init__(
        self,
        root: Path,
        images: Images,
        snapshots: Snapshotter,
        shims: ShimManager,
        *,
        events: EventBus | None = None,
        run: RunSettings | None = None,
        bundle: BundleSettings | None = None,
        networks: Networks | None = None,
        volumes: VolumeStore | None = None,
    ) -> None:
        self.root = root
        self.networks = networks
        self.images = images
        self.snapshots = snapshots
        self.events = events or EventBus()
        self.run_settings = run or RunSettings()
        self.bundle_settings = dataclasses.replace(
            bundle or BundleSettings(), network_namespaces=networks is not None
        )
        self.root.mkdir(parents=True, exist_ok=True)
        self.table = ContainerTable()
        self.volumes = ContainerVolumes(
            self.table, volumes or VolumeStore(root.parent / "volumes"), self.events
        )
        self.supervisor = Supervisor(
            self.table, snapshots, shims, self.events, self.run_settings, self._auto_remove,
            networks, before_spawn=self.volumes.prepare, before_plan=self._ensure_bundle,
        )
        self.execs = ExecService(self.table)
        self.network = ContainerNetworking(self.table, networks)
        self.files = FileService(root, self.table, snapshots, images, self, self.events)

    @property
    def init_path(self) -> str | None:
        return self.bundle_settings.init_path

    # -- lookup ----------------------------------------------------------------------

    def get(self, name_or_id: str) -> Container:
        return self.table.get(name_or_id).container

    def counts(self) -> dict[str, int]:
        containers = [entry.container for entry in self.table]
        running = sum(1 for c in containers if c.running and not c.state["Paused"])
        paused = sum(1 for c in containers if c.state.get("Paused"))
        return {
            "Containers": len(containers),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(containers) - running - paused,
        }

    def image_in_use(self, image_id: str) -> list[str]:
        return [entry.id for entry in self.table if entry.container.image_id == image_id]

    def image_user(self, image_id: str) -> str | None:
        """A container made from the image, if any (the image service's removal check)."""
        users = self.image_in_use(image_id)
        return users[0] if users else None

    def image_running_user(self, image_id: str) -> str | None:
        for entry in self.table:
            if entry.container.image_id == image_id and entry.container.running:
                return entry.id
        return None

    # -- create ----------------------------------------------------------------------

    async def create(
        self,
        name: str | None,
        config: dict[str, Any],
        host_config: dict[str, Any] | None = None,
        networking_config: dict[str, Any] | None = None,
    ) -> tuple[str, list[str]]:
        config = schema.canonical(config, schema.CONFIG)
        host_config = schema.canonical(host_config, schema.HOST_CONFIG)
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
        merged = merge.merge_config(image.container_config, config)
        path, args = merge.command_of(merged)
        merge.parse_signal(merged.get("StopSignal"))
        nameservers = self.network.check(merged, host_config, networking_config)
        mount_points = self.volumes.plan(merged, host_config)
        if name:
            stored_name = names.validate(name)
            self.table.check_name_free(stored_name)
        else:
            stored_name = self.table.fresh_name()
        container_id = self.table.new_id()
        if networking.mode_of(host_config) == "host":
            # As dockerd: on the host's network, the host's name.
            merged["Hostname"] = merged.get("Hostname") or os.uname().nodename
        merged["Hostname"] = merged.get("Hostname") or container_id[:12]
        directory = self.root / container_id
        directory.mkdir(mode=0o710)
        container = Container(
            id=container_id,
            name=stored_name,
            created=rfc3339_nano(),
            path=path,
            args=args,
            config=merged,
            host_config=host_config,
            image_id=image.id,
            directory=directory,
            networking_config=networking.normalise(merged, host_config, networking_config),
            chain_id=image.chain_id,
            mount_points=mount_points,
        )
        made: list[str] = []
        # The name is held while the files are written off the loop: a create of the same
        # name meanwhile is refused, as if this one were done.
        self.table.reserve_name(stored_name, container_id)
        try:
            made = self.volumes.resolve(mount_points)
            # In a worker thread: the writes (snapshot, bundle, record, each fsynced) would
            # hold the loop, and so every other request, for milliseconds; an interrupted
            # create waits for them to end before it undoes them.
            writing = asyncio.ensure_future(asyncio.to_thread(
                self._write_container, container, image.chain_id, mount_points, nameservers
            ))  # fmt: skip
            try:
                await asyncio.shield(writing)
            except asyncio.CancelledError:
                await asyncio.wait([writing])
                raise
        except BaseException as exc:
            with contextlib.suppress(errors.KetchError, OSError):
                self.snapshots.remove(container_id)
            shutil.rmtree(directory, ignore_errors=True)
            self.volumes.undo(made)
            self.table.release_name(stored_name, container_id)
            if isinstance(exc, OSError) and errors.is_storage_error(exc):
                raise errors.storage_error(exc, directory) from None  # a write() names no file
            raise
        self.table.add(Entry(container))
        publish_container(self.events, container, "create")
        return container_id, []

    def _write_container(
        self,
        container: Container,
        chain_id: str | None,
        mount_points: builtins.list[MountPoint],
        nameservers: builtins.list[str],
    ) -> None:
        """A new container's files, in a worker thread: its writable layer (made at create,
        as dockerd does: diff, cp and commit of a container that never ran read it), its
        volumes seeded, /etc files, bundle and record."""
        rootfs = self.snapshots.prepare(container.id, chain_id)
        self.volumes.seed(mount_points, rootfs, container.directory / "seed-root")
        write_etc_files(container, nameservers)
        write_bundle_unless_user_unknown(
            container, self.snapshots.layer_dirs(chain_id), self.bundle_settings
        )
        container.save()

    def _ensure_bundle(self, container: Container) -> None:
        """At start: the config.json create could not write (an unknown user), or that
        user's error now. Checked first: the layers are looked up only when needed."""
        if not (container.bundle / "config.json").exists():
            write_bundle(container, self.snapshots.layer_dirs(container.chain_id),
                         self.bundle_settings)  # fmt: skip

    # -- inspect and list ------------------------------------------------------------

    def inspect(self, name_or_id: str, size: bool = False) -> dict[str, Any]:
        entry = self.table.get(name_or_id)
        container = entry.container
        view = views.inspect_view(
            container, container.image_name, self._graph_driver(container), list(entry.execs),
            self.network.settings(entry),
        )  # fmt: skip
        if size:
            view["SizeRw"] = self.files.size_rw(entry)
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
            lowers = self.snapshots.layer_dirs(container.chain_id)
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
    ) -> builtins.list[dict[str, Any]]:
        normal = normalise_filters(filters)
        validate_filters(normal)
        chosen = sorted(self.table, key=lambda e: e.container.created, reverse=True)
        if not all and not normal.get("status") and not normal.get("exited"):
            chosen = [e for e in chosen if e.container.running]
        chosen = [e for e in chosen if matches_filters(e.container, normal)]
        chosen = self._created_window(chosen, normal)
        if limit is not None and limit > 0:
            chosen = chosen[:limit]
        now = time.time()
        rows = []
        for e in chosen:
            settings = self.network.settings(e)
            ports = networking.list_ports(e.container.config, e.endpoints)
            rows.append(views.list_view(
                e.container, e.container.image_name, now, settings["Networks"], ports
            ))  # fmt: skip
        if size:
            for row, entry in zip(rows, chosen, strict=True):
                row["SizeRw"] = self.files.size_rw(entry)
                row["SizeRootFs"] = row["SizeRw"] + self._image_size(entry.container)
        return rows

    def _created_window(
        self, chosen: builtins.list[Entry], filters: dict[str, builtins.list[str]]
    ) -> builtins.list[Entry]:
        """Docker's before=/since= filters: created before or after the named container."""
        for key in ("before", "since"):
            for value in filters.get(key, []):
                pivot = self.get(value).created
                chosen = [e for e in chosen if (e.container.created < pivot if key == "before"
                                                else e.container.created > pivot)]  # fmt: skip
        return chosen

    def _image_size(self, container: Container) -> int:
        try:
            return int(self.images.get(container.image_id).size)
        except errors.KetchError:
            return 0

    # -- start, wait -----------------------------------------------------------------

    async def start(self, name_or_id: str) -> None:
        """All or nothing: a caller cancelled meanwhile (its client gone, its build
        cancelled) does not cut a start off between the shim's spawn and the process's
        start, which would leave a shim no record knows; the start ends, and the caller's
        clean-up then finds a container that runs or did not start."""
        entry = self.table.get(name_or_id)
        starting = asyncio.ensure_future(self._start(entry))
        # Its outcome is the caller's; when the caller is gone, it is no one's to report.
        starting.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.shield(starting)

    async def _start(self, entry: Entry) -> None:
        async with entry.lock:
            container = entry.container
            if container.running:
                raise errors.NotModified("container already started")
            self.supervisor.restarts.cancel(entry)
            container.manually_stopped = False
            if container.state.get("RemovalInProgress"):
                raise errors.Conflict(f"container {container.id} is marked for removal")
            await self.supervisor.run(entry)

    def wait_for(self, name_or_id: str, condition: str = "not-running") -> asyncio.Future[Any]:
        """Register a waiter now (before start) and return what to await later."""
        condition = condition or "not-running"
        if condition not in WAIT_CONDITIONS:
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        return self.table.get(name_or_id).wait_for(condition)

    async def wait(self, name_or_id: str, condition: str = "not-running") -> dict[str, Any]:
        return dict(await self.wait_for(name_or_id, condition))

    # -- stop, kill, restart ---------------------------------------------------------

    async def kill(self, name_or_id: str, signal: str | int | None = None) -> None:
        entry = self.table.get(name_or_id)
        container = entry.container
        number = merge.parse_signal(signal, default=int(signals.SIGKILL))
        if number in (int(signals.SIGKILL), int(signals.SIGTERM)):
            container.manually_stopped = True  # as dockerd: no restart after an explicit kill
        if not container.running or entry.shim is None:
            raise errors.Conflict(f"Cannot kill container: {name_or_id}: container "
                                  f"{container.id} is not running")  # fmt: skip
        stopped = entry.wait_for("not-running")
        await entry.shim.kill(number)
        publish_container(self.events, container, "kill", signal=str(number))
        if number == int(signals.SIGKILL):
            # As dockerd: a SIGKILL answers once the container is down (or after
            # KILL_WAIT), so an inspect or remove right after sees it exited.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopped), KILL_WAIT)

    async def stop(self, name_or_id: str, timeout: int | None = None,
                   signal: str | None = None) -> None:  # fmt: skip
        entry = self.table.get(name_or_id)
        entry.container.manually_stopped = True
        if not entry.container.running:
            self.supervisor.restarts.cancel(entry)
            raise errors.NotModified("container already stopped")
        await self._stop(entry, timeout, signal)
        publish_container(self.events, entry.container, "stop")

    async def _stop(self, entry: Entry, timeout: int | None, signal: str | None) -> None:
        container = entry.container
        if timeout is None:
            configured = container.config.get("StopTimeout")
            timeout = 10 if configured is None else int(configured)
        stop_signal = merge.parse_signal(signal or container.config.get("StopSignal"))
        exited = entry.wait_for("not-running")
        if container.state.get("Paused"):
            await self._signal(entry, "resume")
            container.state.update(Paused=False, Status="running")
        await self._signal(entry, stop_signal)
        if timeout < 0:
            await exited
            return
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout)
            return
        except TimeoutError:
            pass
        await self._signal(entry, int(signals.SIGKILL))
        await exited

    @staticmethod
    async def _signal(entry: Entry, signal: int | str) -> None:
        """A signal (or "resume") to a container that may be exiting as it is sent."""
        shim = entry.shim
        if shim is None:
            return
        with contextlib.suppress(errors.KetchError, ConnectionError):
            if signal == "resume":
                await shim.resume()
            else:
                await shim.kill(int(signal))

    async def restart(self, name_or_id: str, timeout: int | None = None,
                      signal: str | None = None) -> None:  # fmt: skip
        entry = self.table.get(name_or_id)
        if entry.container.running:
            await self._stop(entry, timeout, signal)
        async with entry.lock:
            if not entry.container.running:
                self.supervisor.restarts.cancel(entry)
                entry.container.manually_stopped = False
                await self.supervisor.run(entry)

    # -- remove ----------------------------------------------------------------------

    async def remove(self, name_or_id: str, force: bool = False, volumes: bool = False) -> None:
        entry = self.table.get(name_or_id)
        async with entry.lock:
            pass  # a start under way ends first: the container then runs, or it did not start
        container = entry.container
        if not force and container.state.get("Restarting"):  # dockerd counts it as running
            raise errors.Conflict(
                f'cannot remove container "{container.name}": container is restarting: stop '
                f"the container before removing or force remove"
            )
        if container.running:
            if not force:
                raise errors.Conflict(
                    f'cannot remove container "{container.name}": container is running: stop '
                    f"the container before removing or force remove"
                )
            exited = entry.wait_for("not-running")
            await self._signal(entry, int(signals.SIGKILL))
            await exited
            if entry not in self.table:
                return  # AutoRemove already took it
        await self._remove(entry, volumes)

    async def _auto_remove(self, entry: Entry) -> None:
        await self._remove(entry, volumes=True)  # as dockerd: --rm takes anonymous volumes

    async def _remove(self, entry: Entry, volumes: bool = False) -> None:
        container = entry.container
        if container.state.get("RemovalInProgress"):
            return
        container.state["RemovalInProgress"] = True
        self.supervisor.restarts.cancel(entry)
        try:
            await self.table.drop(entry)
            self.volumes.release(container, remove_anonymous=volumes)
            with contextlib.suppress(errors.NotFound):
                await asyncio.to_thread(self.snapshots.remove, container.id)
            with contextlib.suppress(OSError):  # its end let go of it; a mount left would stay
                self.supervisor.release_namespace(entry)
            await asyncio.to_thread(shutil.rmtree, container.directory, True)
            publish_container(self.events, container, "destroy")
        finally:
            entry.wake(("removed",))

    # -- networks --------------------------------------------------------------------

    async def connect(
        self, name_or_id: str, network_name: str, settings: dict[str, Any] | None = None
    ) -> None:
        await self.network.connect(self.table.get(name_or_id), network_name, settings)

    async def disconnect(self, name_or_id: str, network_name: str, force: bool = False) -> None:
        await self.network.disconnect(self.table.get(name_or_id), network_name)

    # -- update, pause, rename, prune ------------------------------------------------

    async def update(self, name_or_id: str, changes: dict[str, Any]) -> builtins.list[str]:
        """`docker update`: new limits and restart policy, applied at once if running."""
        container = self.get(name_or_id)
        changes = schema.canonical(changes, schema.HOST_CONFIG)
        schema.check("UpdateConfig", changes, {**schema.HOST_CONFIG, "RestartPolicy": schema.OBJ})
        changes = {k: v for k, v in changes.items() if k in UPDATE_CONFIG}
        if not (changes.get("RestartPolicy") or {}).get("Name"):
            changes.pop("RestartPolicy", None)  # the CLI sends an empty one: keep the old
        unknown = sorted(k for k, v in changes.items() if v and k not in UPDATABLE)
        if unknown:
            raise errors.NotImplementedYet(f"updating {', '.join(unknown)} is not supported")
        merged = dict(container.host_config)
        merged.update({k: v for k, v in changes.items() if k in UPDATABLE and v})
        if changes.get("NanoCpus") and not changes.get("CpuQuota"):
            merged.pop("CpuQuota", None)
            merged.pop("CpuPeriod", None)
        hostconfig.validate(merged)
        restart.validate(merged)
        if container.running:
            await self._update_cgroup(container, merged)
        container.host_config = merged
        write_bundle_unless_user_unknown(
            container, self.snapshots.layer_dirs(container.chain_id), self.bundle_settings
        )
        container.save()
        publish_container(self.events, container, "update")
        return []

    async def _update_cgroup(self, container: Container, host_config: dict[str, Any]) -> None:
        """The new limits on the running container first: a value the kernel refuses is
        the caller's mistake, and then nothing is kept of the update."""
        from ketch.runtime import cgroups

        cgroup = cgroups.load(self.run_settings.cgroup_parent, container.id)
        try:
            await asyncio.to_thread(cgroup.update, resources_of(host_config))
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EBUSY, errno.ERANGE, errno.EPERM):
                raise
            where = Path(exc.filename).name if exc.filename else "its cgroup"
            raise errors.InvalidArgument(
                f"Cannot update container {container.id}: {where}: {exc.strerror}"
            ) from None

    async def pause(self, name_or_id: str) -> None:
        entry = self.table.get(name_or_id)
        container = entry.container
        if not container.running or entry.shim is None:
            raise errors.Conflict(f"Container {container.id} is not running")
        if container.state.get("Paused"):
            raise errors.Conflict(f"Container {container.id} is already paused")
        await entry.shim.pause()
        container.state.update(Paused=True, Status="paused")
        container.save()
        publish_container(self.events, container, "pause")

    async def unpause(self, name_or_id: str) -> None:
        entry = self.table.get(name_or_id)
        container = entry.container
        if not container.state.get("Paused") or entry.shim is None:
            raise errors.Conflict(f"Container {container.id} is not paused")
        await entry.shim.resume()
        container.state.update(Paused=False, Status="running")
        container.save()
        publish_container(self.events, container, "unpause")

    def remove_link(self, parent: str, alias: str) -> None:
        """`docker rm --link /parent/alias`: the parent keeps running, without the link
        from its next start."""
        link_name = f"/{parent.strip('/')}/{alias}"
        try:
            container = self.table.get(parent.strip("/")).container
        except errors.NotFound:
            raise errors.NotFound(
                f"Cannot get parent /{parent.strip('/')} for link name {link_name}"
            ) from None
        links = list(container.host_config.get("Links") or [])
        kept = [link for link in links if networking.parse_link(link)[1] != alias]
        if kept == links:
            raise errors.no_such_container(link_name.lstrip("/"))
        container.host_config["Links"] = kept or None
        container.save()

    def rename(self, name_or_id: str, new_name: str) -> None:
        entry = self.table.get(name_or_id)
        container = entry.container
        if not new_name:
            raise errors.InvalidArgument("Neither old nor new names may be empty")
        stored = names.validate(new_name)
        if stored == container.name:
            raise errors.InvalidArgument(
                "Renaming a container with the same name as its current name"
            )
        old_name = container.name
        self.table.rename(entry, stored)
        container.save()
        publish_container(self.events, container, "rename", oldName=old_name)

    async def prune(self, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """Remove stopped containers; SpaceReclaimed is what their writable layers held."""
        normal = normalise_filters(filters)
        now = time.time()
        deleted: builtins.list[str] = []
        reclaimed = 0
        for entry in self.table:
            container = entry.container
            if container.running or container.state.get("Restarting"):
                continue
            if not prune_matches(container, normal, now):
                continue
            size = await asyncio.to_thread(self.files.size_rw, entry)
            await self._remove(entry)
            deleted.append(container.id)
            reclaimed += size
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # -- stats, top, logs, attach, resize --------------------------------------------

    async def stats(self, name_or_id: str, stream: bool, one_shot: bool = False
                    ) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        """Samples a second apart, as dockerd sends them; a stopped container gives zeros."""
        from ketch.containers import stats

        entry = self.table.get(name_or_id)
        container = entry.container
        from ketch.runtime import cgroups

        cgroup = cgroups.load(self.run_settings.cgroup_parent, container.id)
        zero_time = "0001-01-01T00:00:00Z"
        before: dict[str, Any] | None = None
        before_at = zero_time
        if not stream and not one_shot and container.running:
            before, before_at = stats.sample(cgroup), rfc3339_nano()
            await asyncio.sleep(1)
        while True:
            now_at = rfc3339_nano()
            now = stats.sample(cgroup) if container.running else None
            if now is None:
                now = {"cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {},
                       "pids_stats": {}}  # fmt: skip
                now_at = zero_time
            yield stats.stats_body(container.id, container.name, now, before, now_at, before_at)
            if not stream or not container.running or entry not in self.table:
                return
            before, before_at = now, now_at
            await asyncio.sleep(1)

    def top(self, name_or_id: str, ps_args: str = "") -> dict[str, Any]:
        from ketch.containers.top import top

        container = self.get(name_or_id)
        if not container.running:
            raise errors.Conflict(f"Container {container.id} is not running")
        return top(self.run_settings.cgroup_parent, container.id, ps_args)

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
        entry = self.table.get(name_or_id)
        container = entry.container
        if not stdout and not stderr:
            raise errors.InvalidArgument("You must choose at least one stream")
        if container.log_driver == "none":
            raise errors.NotImplementedYet("configured logging driver does not support reading")
        streams = ({1} if stdout else set()) | ({2} if stderr else set())

        def still_running() -> bool:
            return container.running and entry in self.table

        return container, read_logs(
            container.log_path, streams=streams, tail=tail, since=since, until=until,
            timestamps=timestamps, follow=follow, still_running=still_running,
        )  # fmt: skip

    async def attach(
        self, name_or_id: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[Container, AttachSession]:
        entry = self.table.get(name_or_id)
        session = AttachSession(stdin=stdin, stdout=stdout, stderr=stderr)
        if entry.container.running and entry.shim is not None:
            reader, writer = await entry.shim.attach(stdin, stdout, stderr)
            await session.connect(reader, writer)
        else:
            entry.pending_attaches.append(session)
        return entry.container, session

    async def resize(self, name_or_id: str, height: int, width: int) -> None:
        entry = self.table.get(name_or_id)
        if not entry.container.running or entry.shim is None:
            # The CLI may resize between create and start: keep it for the start.
            entry.pending_size = (height, width)
            return
        await entry.shim.resize(height, width)

    # -- the daemon's start and stop -------------------------------------------------

    async def restore(self) -> None:
        """Load every record; reconnect live shims; settle those that died meanwhile."""
        for directory in sorted(self.root.iterdir()):
            if not (directory / "config.v2.json").is_file():
                continue
            try:
                container = Container.load(directory)
                self.table.add(Entry(container))
            except (OSError, ValueError, KeyError, errors.Conflict) as exc:
                log.warning("skipping container %s: %s", directory.name, exc)
        for entry in self.table:
            await self.supervisor.restore(entry)

    async def close(self) -> None:
        """Stop watching; the shims and their containers keep running."""
        await self.supervisor.close()


def familiar(name: str) -> str:
    """Docker names a missing image as the CLI will pull it: "hello-world:latest"."""
    from ketch.oci import reference

    if reference.is_digest_id(name):
        return name
    try:
        return reference.parse(name).familiar()
    except errors.KetchError:
        return name
