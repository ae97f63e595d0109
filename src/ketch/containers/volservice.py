"""ContainerVolumes: the containers' volumes — mount points resolved at create (volumes
made, named or anonymous, and seeded from the image), mounted before a start, let go of
at removal — and the `/volumes` routes' view of them, which needs to know who uses one."""

from __future__ import annotations

import builtins
import contextlib
import os
from pathlib import Path
from typing import Any

from ketch import errors
from ketch.containers import mountpoints, seeding
from ketch.containers.events import EventBus
from ketch.containers.mountpoints import MountPoint
from ketch.containers.record import Container
from ketch.containers.table import ContainerTable
from ketch.snapshots.mounts import Mount
from ketch.volumes import VolumeStore
from ketch.volumes import filters as volume_filters


def points_of(container: Container) -> list[MountPoint]:
    if container.mount_points is not None:
        return container.mount_points
    try:
        return mountpoints.plan({}, container.host_config)
    except errors.KetchError:
        return []


def _volume_names(container: Container) -> set[str]:
    return {p["Name"] for p in points_of(container) if p["Type"] == "volume" and p["Name"]}


class ContainerVolumes:
    def __init__(self, table: ContainerTable, store: VolumeStore, events: EventBus) -> None:
        self.table = table
        self.store = store
        self.events = events

    # -- a container's volumes -------------------------------------------------------

    def plan(self, config: dict[str, Any], host_config: dict[str, Any]) -> list[MountPoint]:
        """The mount points of a container being created; checks only, makes nothing."""
        inherited: list[MountPoint] = []
        for spec in host_config.get("VolumesFrom") or []:
            name, writable = mountpoints.parse_volumes_from(spec)
            source = self.table.get(name).container
            inherited += [mountpoints.inherited(p, writable) for p in points_of(source)]
        points = mountpoints.plan(config, host_config, inherited)
        for point in points:
            if point["Type"] == "bind" and not point.get("MakeSource"):
                if not os.path.exists(point["Source"]):
                    raise errors.InvalidArgument(
                        'invalid mount config for type "bind": bind source path does not '
                        f"exist: {point['Source']}"
                    )
        return points

    def resolve(self, points: list[MountPoint]) -> list[str]:
        """Give each volume mount point its volume, made if missing; returns the names
        of the anonymous ones made now (undo() takes them back if the create fails)."""
        made: list[str] = []
        try:
            for point in points:
                if point["Type"] == "bind" and point.pop("MakeSource", False):
                    os.makedirs(point["Source"], exist_ok=True)
                if point["Type"] != "volume" or point["Source"]:
                    continue
                volume, fresh = self.store.create(point["Name"], point["Driver"])
                if fresh:
                    self._publish("create", volume.name)
                    if not point["Name"]:  # as dockerd: a failed create keeps named ones
                        made.append(volume.name)
                point.update(Name=volume.name, Source=volume.mountpoint, Driver=volume.driver)
        except BaseException:
            self.undo(made)
            raise
        return made

    def undo(self, made: list[str]) -> None:
        for name in made:
            with contextlib.suppress(errors.KetchError, OSError):
                self.store.remove(name)

    def seed(self, points: list[MountPoint], mounts: list[Mount], scratch: Path) -> None:
        """Copy the image's content into each empty volume that takes it (not nocopy,
        not a subpath), as dockerd does on a volume's first use."""
        wanted = []
        for point in points:
            if point["Type"] != "volume" or not point["CopyData"] or mountpoints.subpath(point):
                continue
            data = self.store.mount(point["Name"])
            if seeding.is_empty(data):
                wanted.append((point["Destination"], data))
        if not wanted:
            return
        with seeding.mounted_snapshot(mounts, scratch, read_only=True) as root:
            for destination, data in wanted:
                if seeding.is_empty(data):
                    seeding.seed(root, destination, data)

    def prepare(self, container: Container) -> None:
        """Before a start: each volume there (mounted if its options say so), and each
        subpath in it."""
        for point in points_of(container):
            if point["Type"] != "volume":
                continue
            data = self.store.mount(point["Name"])
            sub = mountpoints.subpath(point)
            if sub and not os.path.exists(os.path.join(data, sub)):
                raise errors.InvalidArgument(
                    f"error while mounting volume '{data}': cannot access path "
                    f"{os.path.join(data, sub)}: lstat {os.path.join(data, sub)}: "
                    "no such file or directory"
                )

    def release(self, container: Container, remove_anonymous: bool) -> None:
        """A removed container's volumes: its anonymous ones go with it (`rm -v`, --rm)
        unless another container uses them."""
        if not remove_anonymous:
            return
        for point in points_of(container):
            if point["Type"] != "volume" or (point.get("Spec") or {}).get("Source"):
                continue
            name = point["Name"]
            if self.users(name):
                continue
            with contextlib.suppress(errors.NotFound):
                self.store.remove(name)
                self._publish("destroy", name)

    def users(self, name: str) -> list[str]:
        return [e.id for e in self.table if name in _volume_names(e.container)]

    def _publish(self, action: str, name: str) -> None:
        self.events.publish("volume", action, name, {"driver": "local"})

    # -- the /volumes routes ---------------------------------------------------------

    def create(
        self,
        name: str = "",
        driver: str = "",
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        volume, fresh = self.store.create(name, driver, options, labels)
        if fresh:
            self._publish("create", volume.name)
        return volume.view()

    def inspect(self, name: str) -> dict[str, Any]:
        return self.store.get(name).view()

    def list(self, filters: dict[str, list[str]], dangling: bool | None) -> list[dict[str, Any]]:
        used = self._used()
        return [v.view() for v in self.store.list()
                if volume_filters.list_matches(v, filters, v.name in used, dangling)]  # fmt: skip

    def remove(self, name: str, force: bool = False) -> None:
        try:
            self.store.get(name)
        except errors.NotFound:
            if force:
                return
            raise
        users = self.users(name)
        if users:
            raise errors.Conflict(f"remove {name}: volume is in use - [{' '.join(users)}]")
        self.store.remove(name)
        self._publish("destroy", name)

    def prune(self, filters: dict[str, builtins.list[str]], every: bool) -> dict[str, Any]:
        used = self._used()
        deleted: builtins.list[str] = []
        reclaimed = 0
        for volume in self.store.list():
            if volume.name in used or not volume_filters.prune_matches(volume, filters, every):
                continue
            size = self.store.size(volume.name)
            self.store.remove(volume.name)
            self._publish("destroy", volume.name)
            deleted.append(volume.name)
            reclaimed += size
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def usage(self) -> builtins.list[dict[str, Any]]:
        """`/system/df`'s Volumes: each with its size and how many containers use it."""
        counts: dict[str, int] = {}
        for entry in self.table:
            for name in _volume_names(entry.container):
                counts[name] = counts.get(name, 0) + 1
        return [{**v.view(), "UsageData": {"Size": self.store.size(v.name),
                                           "RefCount": counts.get(v.name, 0)}}
                for v in self.store.list()]  # fmt: skip

    def _used(self) -> set[str]:
        return {name for entry in self.table for name in _volume_names(entry.container)}
