"""A new volume is seeded from the image: what the image has at the volume's path is
copied into it (owners, modes, times, links and devices kept), as dockerd copies it; and
the container's snapshot mounted for a moment, which that copy and `docker cp` read."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from ketch.errors import KetchError
from ketch.snapshots.mounts import Mount

MS_BIND = 4096
MS_RDONLY = 1
MNT_DETACH = 2
OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")


@contextlib.contextmanager
def mounted_snapshot(mounts: list[Mount], target: Path, read_only: bool = False) -> Iterator[Path]:
    """The snapshot mounted at `target` (made and removed here) for the block."""
    from ketch.runtime import syscalls

    target.mkdir(exist_ok=True)
    mount = mounts[0]
    try:
        if mount.type == "bind":
            syscalls.mount(mount.source, str(target), None, MS_BIND)
        else:
            options = ",".join(mount.options)
            syscalls.mount("overlay", str(target), "overlay", MS_RDONLY if read_only else 0,
                           options)  # fmt: skip
        try:
            yield target
        finally:
            syscalls.umount2(str(target), MNT_DETACH)
    finally:
        with contextlib.suppress(OSError):
            target.rmdir()


def is_empty(directory: Path) -> bool:
    with os.scandir(directory) as entries:
        return next(entries, None) is None


def seed(root: Path, path: str, volume_data: Path) -> bool:
    """Copy the directory at `path` under `root` (symlinks resolved inside root) into the
    empty `volume_data`; False when the image has no directory there."""
    # archive.py (with tarfile) at the first seeding, not with every daemon's start.
    from ketch.containers import archive

    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = archive.resolve(root_fd, path, follow_final=True)
        except KetchError:
            return False
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                return False
            copy_tree(f"/proc/self/fd/{fd}", str(volume_data))
            return True
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)


def copy_tree(source: str, destination: str) -> None:
    """Everything under `source` into `destination`, which takes the source's own owner,
    mode and times too (containerd's CopyDir, as dockerd uses it)."""
    links: dict[tuple[int, int], str] = {}
    _copy_dir(source, destination, links)


def _copy_dir(source: str, destination: str, links: dict[tuple[int, int], str]) -> None:
    st = os.stat(source)
    if not os.path.isdir(destination):
        os.mkdir(destination, stat.S_IMODE(st.st_mode))
    with os.scandir(source) as entries:
        children = sorted(entries, key=lambda e: e.name)
    for entry in children:
        src, dst = os.path.join(source, entry.name), os.path.join(destination, entry.name)
        child = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(child.st_mode):
            _copy_dir(src, dst, links)
            continue
        key = (child.st_dev, child.st_ino)
        if child.st_nlink > 1 and key in links:
            os.link(links[key], dst)
            continue
        if stat.S_ISLNK(child.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISREG(child.st_mode):
            shutil.copyfile(src, dst, follow_symlinks=False)
        elif stat.S_ISCHR(child.st_mode) or stat.S_ISBLK(child.st_mode) or stat.S_ISFIFO(
            child.st_mode
        ):
            os.mknod(dst, child.st_mode, child.st_rdev)
        else:
            continue  # a socket: nothing to copy
        if child.st_nlink > 1:
            links[key] = dst
        _copy_metadata(src, dst, child)
    _copy_metadata(source, destination, st)


def _copy_metadata(source: str, destination: str, st: os.stat_result) -> None:
    os.chown(destination, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(destination, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):
        for name in os.listxattr(source, follow_symlinks=False):
            if not name.startswith(OVERLAY_XATTRS):
                value = os.getxattr(source, name, follow_symlinks=False)
                os.setxattr(destination, name, value, follow_symlinks=False)
    os.utime(destination, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
