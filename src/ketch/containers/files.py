"""A container's files: its root reached safely for `docker cp` and export, its writable
layer for commit, diff and sizes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any, Protocol

from ketch import errors
from ketch.containers import layerpaths, mountpoints, views
from ketch.containers.contracts import Images, Snapshotter
from ketch.containers.entry import Entry
from ketch.containers.events import EventBus, publish_container
from ketch.containers.table import ContainerTable
from ketch.containers.volservice import points_of
from ketch.snapshots.mounts import Mount
from ketch.timestamps import rfc3339_nano

MS_BIND = 4096
MS_REC = 16384
MS_REMOUNT = 32
MS_RDONLY = 1
MNT_DETACH = 2


class Pauser(Protocol):
    """The lifecycle's pause, which commit uses to take a still picture."""

    async def pause(self, name_or_id: str) -> None: ...

    async def unpause(self, name_or_id: str) -> None: ...


class FileService:
    def __init__(
        self,
        root: Path,
        table: ContainerTable,
        snapshots: Snapshotter,
        images: Images,
        pauser: Pauser,
        events: EventBus,
    ) -> None:
        self.root = root
        self.table = table
        self.snapshots = snapshots
        self.images = images
        self.pauser = pauser
        self.events = events

    async def commit(
        self,
        name_or_id: str,
        *,
        repo: str | None,
        tag: str | None,
        comment: str = "",
        author: str = "",
        config: dict[str, Any] | None = None,
        pause: bool = True,
        changes: list[str] | None = None,
    ) -> str:
        """A new image: the container's image plus its writable layer; returns the image id.
        `changes` are Dockerfile instructions applied to the config (`commit --change`)."""
        import tempfile

        from ketch.containers.commit import write_layer
        from ketch.oci import reference

        entry = self.table.get(name_or_id)
        container = entry.container
        parent = self.images.get(container.image_id)
        image_config = json.loads(json.dumps(parent.config))
        run_config = {k: v for k, v in container.config.items() if k not in ("Hostname", "Image")}
        run_config.update(config or {})
        if changes:
            from ketch.containers.changes import apply_changes

            run_config = apply_changes(run_config, changes)
        image_config["config"] = run_config
        # dockerd's V1Image fields of a commit, shown by image inspect to old clients.
        image_config["container"] = container.id
        image_config["container_config"] = json.loads(json.dumps(container.config))
        if author:
            image_config["author"] = author
        history = list(image_config.get("history") or [])
        history.append({"created": rfc3339_nano(), "created_by": views.command_line(container),
                        "comment": comment})  # fmt: skip
        image_config["history"] = history
        image_config.pop("created", None)
        tags = []
        if repo:
            target = reference.parse_repository(repo)
            tags.append(str(target.with_tag(tag or "latest")))
        upper = upper_dir(self._mounts(entry))
        skip = layerpaths.hidden_entries(upper, points_of(container))
        paused_here = False
        if pause and container.running and not container.state.get("Paused"):
            # As dockerd, a pause that fails (the container ended meanwhile) is no error:
            # a container that is not running is still, which is what the pause is for.
            with contextlib.suppress(errors.KetchError, ConnectionError):
                await self.pauser.pause(container.id)
                paused_here = True
        try:
            with tempfile.TemporaryDirectory(dir=self.root) as scratch:
                layer = Path(scratch) / "layer.tar"
                await asyncio.to_thread(write_layer, upper, layer, skip)
                image = await self.images.create_image(image_config, [layer], parent=parent,
                                                       tags=tags)  # fmt: skip
        finally:
            if paused_here:
                with contextlib.suppress(errors.KetchError, ConnectionError):  # ended meanwhile
                    await self.pauser.unpause(container.id)
        publish_container(self.events, container, "commit")
        return image.id

    def _mounts(self, entry: Entry) -> list[Mount]:
        try:
            return self.snapshots.mounts(entry.id)
        except errors.NotFound:  # a record from before snapshots were made at create
            return self.snapshots.prepare(entry.id, entry.container.chain_id)

    def size_rw(self, entry: Entry) -> int:
        """Bytes in the container's writable layer (its snapshot's upper directory)."""
        try:
            upper = upper_dir(self._mounts(entry))
        except errors.KetchError:
            return 0
        total = 0
        for directory, _, files in os.walk(upper):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(directory, name)).st_size
        return total

    @contextlib.asynccontextmanager
    async def _root(self, entry: Entry, with_mounts: bool = True) -> AsyncIterator[int]:
        """A descriptor of the container's root: the live one, or its snapshot mounted
        for the moment (held under the container's lock so start waits), with its
        volumes and binds on it unless `with_mounts` is False."""
        container = entry.container
        fd = live_root(container.state.get("Pid") or 0) if container.running else None
        if fd is not None:
            try:
                yield fd
            finally:
                os.close(fd)
            return
        from ketch.runtime import syscalls

        async with entry.lock:
            mounts = self._mounts(entry)
            target = container.directory / "cp-root"
            target.mkdir(exist_ok=True)
            mount = mounts[0]
            if mount.type == "bind":
                syscalls.mount(mount.source, str(target), None, MS_BIND)
            else:
                syscalls.mount("overlay", str(target), "overlay", 0, ",".join(mount.options))
            try:
                if with_mounts:
                    bind_mount_points(target, points_of(container))
                fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    yield fd
                finally:
                    os.close(fd)
            finally:
                syscalls.umount2(str(target), MNT_DETACH)
                with contextlib.suppress(OSError):
                    target.rmdir()

    async def archive_stat(self, name_or_id: str, path: str) -> dict[str, Any]:
        from ketch.containers import archive

        entry = self.table.get(name_or_id)
        async with self._root(entry) as root:
            return await asyncio.to_thread(archive.path_stat, root, path)

    async def archive_get(self, name_or_id: str, path: str, out: IO[bytes]) -> dict[str, Any]:
        """Write a tar of `path` into the file `out`; returns the path's stat."""
        from ketch.containers import archive

        entry = self.table.get(name_or_id)
        async with self._root(entry) as root:
            found = await asyncio.to_thread(archive.path_stat, root, path)
            await asyncio.to_thread(archive.write_tar, root, path, out)
        return found

    async def archive_put(
        self, name_or_id: str, path: str, source: IO[bytes], copy_owner: bool = False
    ) -> None:
        from ketch.containers import archive

        entry = self.table.get(name_or_id)
        covering = mountpoints.covering(points_of(entry.container), path)
        if covering is not None and covering["Type"] != "tmpfs":
            if not covering["RW"]:
                raise errors.Forbidden("mounted volume is marked read-only")
        elif entry.container.host_config.get("ReadonlyRootfs"):
            raise errors.Forbidden("container rootfs is marked read-only")
        async with self._root(entry) as root:
            await asyncio.to_thread(archive.extract_tar, root, path, source, copy_owner)

    async def export(self, name_or_id: str, out: IO[bytes]) -> None:
        """`docker export`: the container's whole root filesystem as one tar."""
        from ketch.containers import archive

        entry = self.table.get(name_or_id)
        async with self._root(entry, with_mounts=False) as root:  # as Docker's: no volumes
            await asyncio.to_thread(archive.write_tar, root, "/", out, True)

    def changes(self, name_or_id: str) -> list[dict[str, Any]]:
        """`docker diff`: Kind 0 changed, 1 added, 2 deleted, from the writable layer."""
        entry = self.table.get(name_or_id)
        upper = upper_dir(self._mounts(entry))
        lowers = self.snapshots.layer_dirs(entry.container.chain_id)
        hidden = layerpaths.hidden_entries(upper, points_of(entry.container))
        found: list[dict[str, Any]] = []
        for directory, dirnames, filenames in os.walk(upper):
            relative = Path(directory).relative_to(upper)
            dirnames[:] = sorted(d for d in dirnames if str(relative / d) not in hidden)
            for name in sorted(dirnames + filenames):
                inside = relative / name
                if str(inside) in hidden:
                    continue
                st = os.lstat(Path(directory) / name)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    kind = 2
                else:
                    kind = 0 if any(os.path.lexists(lower / inside) for lower in lowers) else 1
                found.append({"Path": "/" + str(inside), "Kind": kind})
        return without_etc_files(found)


# The files ketch writes for every container (mounted over the image's): dockerd's
# diff leaves them out, and /etc with them when nothing else in it changed.
ETC_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def without_etc_files(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = [change for change in found if change["Path"] not in ETC_FILES]
    if not any(change["Path"].startswith("/etc/") for change in kept):
        kept = [c for c in kept if not (c["Path"] == "/etc" and c["Kind"] == 0)]
    return kept


def bind_mount_points(root: Path, points: list[dict[str, Any]]) -> None:
    """A stopped container's volumes and binds on its root mounted at `root`, so that cp
    reaches them as in the running container (made where missing, as dockerd does);
    the root's lazy unmount takes them with it."""
    from ketch.runtime import syscalls

    for point in points:
        if point["Type"] == "tmpfs" or not point["Source"]:
            continue
        source = point["Source"]
        sub = mountpoints.subpath(point)
        if sub:
            source = os.path.join(source, sub)
        target = os.path.join(root, point["Destination"].lstrip("/"))
        with contextlib.suppress(OSError):
            if os.path.isdir(source):
                os.makedirs(target, exist_ok=True)
            elif not os.path.lexists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                open(target, "a").close()  # noqa: SIM115 - a file to bind a file over
        real = os.path.realpath(target)
        if not real.startswith(str(root) + "/") or not os.path.exists(real):
            continue  # a symlink out of the root, or not a directory: not followed
        flags = MS_BIND | MS_REC
        syscalls.mount(source, real, None, flags)
        if not point["RW"]:
            syscalls.mount("", real, None, flags | MS_REMOUNT | MS_RDONLY)


def live_root(pid: int) -> int | None:
    """A descriptor of a running container's root, or None once its init is gone (it may
    be exiting as we look: then its snapshot serves)."""
    if pid <= 0:
        return None
    try:
        return os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError):
        return None


def upper_dir(mounts: list[Mount]) -> Path:
    """The writable directory of a snapshot, from its mount description."""
    mount = mounts[0]
    if mount.type == "bind":
        return Path(mount.source)
    for option in mount.options:
        if option.startswith("upperdir="):
            return Path(option.removeprefix("upperdir="))
    raise errors.Internal("snapshot without an upper directory")
