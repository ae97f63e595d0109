"""RUN --mount: cache directories the builder keeps between builds, binds from the context
or a stage, tmpfs (BuildKit's mount types, as HostConfig.Mounts of the step's container).

`--mount=type=cache,target=/root/.cache[,id=x][,mode=0755][,uid=0][,gid=0]`: one directory
per id (default: the target) under the builder's root, shared by every build.
`--mount=type=bind,target=/src[,source=.][,from=stage][,rw]`: read-only unless `rw`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ketch import errors
from ketch.build.contracts import Snapshots
from ketch.build.rootfs import mounted
from ketch.images.model import Image

ResolveImage = Callable[[str], "Image | None"]


def parse_mount(spec: str) -> dict[str, str]:
    """"type=cache,target=/x,rw" -> {"type": "cache", "target": "/x", "rw": "true"}."""
    found: dict[str, str] = {}
    for option in spec.split(","):
        option = option.strip()
        if not option:
            continue
        key, sep, value = option.partition("=")
        key = key.strip().lower()
        if key == "dst" or key == "destination":
            key = "target"
        elif key == "src":
            key = "source"
        elif key in ("readonly", "ro"):
            key, value = "rw", ("false" if value.lower() in ("", "true", "1") else "true")
        found[key] = value.strip() if sep else "true"
    found.setdefault("type", "bind")
    if not found.get("target", "").startswith("/"):
        raise errors.InvalidArgument(f"mount {spec!r}: target must be an absolute path")
    return found


class RunMounts:
    def __init__(self, cache_root: Path, snapshots: Snapshots) -> None:
        self.cache_root = cache_root
        self.snapshots = snapshots

    def cache_dir(self, options: dict[str, str]) -> Path:
        name = options.get("id") or options["target"]
        directory = self.cache_root / hashlib.sha256(name.encode()).hexdigest()[:32]
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(directory, int(options.get("uid") or 0), int(options.get("gid") or 0))
            os.chmod(directory, int(options.get("mode") or "0755", 8))
        return directory

    @contextlib.contextmanager
    def prepared(
        self, specs: list[str], context_dir: Path, resolve: ResolveImage, scratch: Path
    ) -> Iterator[list[dict[str, Any]]]:
        """HostConfig.Mounts for the specs; stage roots stay mounted until the end."""
        with contextlib.ExitStack() as stack:
            binds: list[dict[str, Any]] = []
            for spec in specs:
                options = parse_mount(spec)
                kind, target = options["type"], options["target"]
                read_only = options.get("rw") != "true"
                if kind == "cache":
                    source = self.cache_dir(options)
                    binds.append({"Type": "bind", "Source": str(source), "Target": target})
                elif kind == "tmpfs":
                    binds.append({"Type": "tmpfs", "Target": target})
                elif kind == "bind":
                    root = context_dir
                    if options.get("from"):
                        image = resolve(options["from"])
                        root = stack.enter_context(self._image_root(image, scratch))
                    source = inside(root, options.get("source", "/"))
                    binds.append({"Type": "bind", "Source": str(source), "Target": target,
                                  "ReadOnly": read_only})  # fmt: skip
                else:
                    raise errors.NotImplementedYet(f"RUN --mount=type={kind} is not supported")
            yield binds

    @contextlib.contextmanager
    def _image_root(self, image: Image | None, scratch: Path) -> Iterator[Path]:
        key = f"build-mnt-{uuid.uuid4().hex[:16]}"
        mounts = self.snapshots.prepare(key, image.chain_id if image is not None else None)
        try:
            with mounted(mounts, scratch / key) as root:
                yield root
        finally:
            with contextlib.suppress(errors.NotFound):
                self.snapshots.remove(key)


def inside(root: Path, path: str) -> Path:
    """`path` under `root`, never above it ("../x" stays inside)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    found = root.joinpath(*parts)
    if not os.path.lexists(found):
        raise errors.InvalidArgument(f"mount source {path!r} not found")
    return found
