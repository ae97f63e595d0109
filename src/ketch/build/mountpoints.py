"""A RUN container's mount points, kept out of the step's layer.

The runtime makes a mount point where the image has none: /etc/hosts, /etc/hostname and
/etc/resolv.conf (bound in from the container's directory), and the targets of RUN
--mount. They land in the container's writable layer; dockerd keeps them in an init layer
below it instead, so its build steps' layers never hold them. The builder removes them
from the stopped container's upper directory before the diff.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from ketch.containers.bundle import ETC_FILES

ETC_MOUNT_POINTS = tuple(destination for _, destination in ETC_FILES)


def drop_mount_points(upper: Path, lowers: list[Path], targets: Iterable[str]) -> None:
    """Remove each target from `upper` when it is only a mount point (an empty file or
    directory the image does not have), then the directories made to hold it."""
    for target in [*ETC_MOUNT_POINTS, *targets]:
        relative = target.strip("/")
        if not relative:
            continue
        path = upper / relative
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        in_image = any(os.path.lexists(lower / relative) for lower in lowers)
        if stat.S_ISREG(info.st_mode) and info.st_size == 0 and target in ETC_MOUNT_POINTS:
            path.unlink()  # a bind mount hid it: nothing the step wrote is in it
        elif stat.S_ISDIR(info.st_mode) and not in_image and not any(path.iterdir()):
            path.rmdir()
        else:
            continue
        _drop_empty_parents(upper, lowers, path.parent)


def _drop_empty_parents(upper: Path, lowers: list[Path], directory: Path) -> None:
    """Directories left empty: made for the mount point (not in the image), or copied up
    from the image unchanged (same owner and mode)."""
    while directory != upper and not any(directory.iterdir()):
        relative = directory.relative_to(upper)
        mine = os.lstat(directory)
        below = next((lower / relative for lower in lowers
                      if os.path.lexists(lower / relative)), None)  # fmt: skip
        if below is not None:
            theirs = os.lstat(below)
            if (mine.st_mode, mine.st_uid, mine.st_gid) != (
                theirs.st_mode, theirs.st_uid, theirs.st_gid
            ):
                return  # the step changed the directory itself
            if _opaque(directory):
                return
        directory.rmdir()
        directory = directory.parent


def _opaque(directory: Path) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(directory, name) == b"y":
                return True
        except OSError:
            continue
    return False
