"""A container's files: its root reached safely for `docker cp`, its writable layer for
commit and sizes.

A mixin of ContainerService: it uses the service's lookup, locks, snapshots,
images and events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ketch import errors
from ketch.containers import views
from ketch.containers.record import Container
from ketch.timestamps import rfc3339_nano as now_rfc3339

MS_BIND = 4096
MNT_DETACH = 2


class FilesMixin:
    root: Path
    images: Any
    snapshots: Any
    get: Any
    _lock: Any
    _event: Any
    pause: Any
    unpause: Any
    _layer_dirs: Any

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
    ) -> str:
        """A new image: the container's image plus its writable layer; returns the image id."""
        import tempfile

        from ketch.containers.commit import write_layer
        from ketch.oci import reference

        container = self.get(name_or_id)
        parent = self.images.get(container.image_id)
        image_config = json.loads(json.dumps(parent.config))
        run_config = {k: v for k, v in container.config.items() if k not in ("Hostname", "Image")}
        run_config.update(config or {})
        image_config["config"] = run_config
        if author:
            image_config["author"] = author
        history = list(image_config.get("history") or [])
        history.append({"created": now_rfc3339(), "created_by": views.command_line(container),
                        "comment": comment})  # fmt: skip
        image_config["history"] = history
        image_config.pop("created", None)
        tags = []
        if repo:
            target = reference.parse_repository(repo)
            tags.append(str(target.with_tag(tag or "latest")))
        mounts = self.snapshots.prepare(container.id, container.chain_id)
        upper = upper_dir(mounts)
        paused_here = False
        if pause and container.running and not container.state.get("Paused"):
            await self.pause(container.id)
            paused_here = True
        try:
            with tempfile.TemporaryDirectory(dir=self.root) as scratch:
                layer = Path(scratch) / "layer.tar"
                await asyncio.to_thread(write_layer, upper, layer)
                image = await self.images.create_image(image_config, [layer], parent=parent,
                                                       tags=tags)  # fmt: skip
        finally:
            if paused_here:
                await self.unpause(container.id)
        self._event(container, "commit")
        return image.id

    def size_rw(self, container: Container) -> int:
        """Bytes in the container's writable layer (its snapshot's upper directory)."""
        try:
            upper = upper_dir(self.snapshots.prepare(container.id, container.chain_id))
        except errors.KetchError:
            return 0
        total = 0
        for directory, _, files in os.walk(upper):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(directory, name)).st_size
        return total

    @contextlib.asynccontextmanager
    async def _root(self, container: Container) -> AsyncIterator[int]:
        """A descriptor of the container's root: the live one, or its snapshot mounted
        for the moment (held under the container's lock so start waits)."""
        if container.running and container.state.get("Pid"):
            fd = os.open(f"/proc/{container.state['Pid']}/root",
                         os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # fmt: skip
            try:
                yield fd
            finally:
                os.close(fd)
            return
        from ketch.runtime import syscalls

        async with self._lock(container.id):
            mounts = self.snapshots.prepare(container.id, container.chain_id)
            target = container.directory / "cp-root"
            target.mkdir(exist_ok=True)
            mount = mounts[0]
            if mount.type == "bind":
                syscalls.mount(mount.source, str(target), None, MS_BIND)
            else:
                syscalls.mount("overlay", str(target), "overlay", 0, ",".join(mount.options))
            try:
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

        container = self.get(name_or_id)
        async with self._root(container) as root:
            return await asyncio.to_thread(archive.path_stat, root, path)

    async def archive_get(self, name_or_id: str, path: str, out: Any) -> dict[str, Any]:
        """Write a tar of `path` into the file `out`; returns the path's stat."""
        from ketch.containers import archive

        container = self.get(name_or_id)
        async with self._root(container) as root:
            found = await asyncio.to_thread(archive.path_stat, root, path)
            await asyncio.to_thread(archive.write_tar, root, path, out)
        return found

    async def archive_put(
        self, name_or_id: str, path: str, source: Any, copy_owner: bool = False
    ) -> None:
        from ketch.containers import archive

        container = self.get(name_or_id)
        if container.host_config.get("ReadonlyRootfs"):
            raise errors.Forbidden("container rootfs is marked read-only")
        async with self._root(container) as root:
            await asyncio.to_thread(archive.extract_tar, root, path, source, copy_owner)

    async def export(self, name_or_id: str, out: Any) -> None:
        """`docker export`: the container's whole root filesystem as one tar."""
        from ketch.containers import archive

        container = self.get(name_or_id)
        async with self._root(container) as root:
            await asyncio.to_thread(archive.write_tar, root, "/", out, True)

    def changes(self, name_or_id: str) -> list[dict[str, Any]]:
        """`docker diff`: Kind 0 changed, 1 added, 2 deleted, from the writable layer."""
        container = self.get(name_or_id)
        upper = upper_dir(self.snapshots.prepare(container.id, container.chain_id))
        lowers = self._layer_dirs(container.chain_id)
        found: list[dict[str, Any]] = []
        for directory, dirnames, filenames in os.walk(upper):
            dirnames.sort()
            relative = Path(directory).relative_to(upper)
            for name in sorted(dirnames + filenames):
                inside = relative / name
                st = os.lstat(Path(directory) / name)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    kind = 2
                else:
                    kind = 0 if any(os.path.lexists(lower / inside) for lower in lowers) else 1
                found.append({"Path": "/" + str(inside), "Kind": kind})
        return found


def upper_dir(mounts: list[Any]) -> Path:
    """The writable directory of a snapshot, from its mount description."""
    mount = mounts[0]
    if mount.type == "bind":
        return Path(mount.source)
    for option in mount.options:
        if option.startswith("upperdir="):
            return Path(option.removeprefix("upperdir="))
    raise errors.Internal("snapshot without an upper directory")
