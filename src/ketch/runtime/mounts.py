"""The container's filesystem: rootfs, config.json mounts, /dev, pivot_root, masked paths.

Runs inside the container init, after it has its own mount namespace.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from ketch.runtime import syscalls as sc
from ketch.runtime.cgroups import Layout, detect_layout

_FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    # option -> (clear?, flag)
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID),
    "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV),
    "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC),
    "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS),
    "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC),
    "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK),
    "nomand": (True, sc.MS_MANDLOCK),
    "atime": (True, sc.MS_NOATIME),
    "noatime": (False, sc.MS_NOATIME),
    "diratime": (True, sc.MS_NODIRATIME),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "bind": (False, sc.MS_BIND),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME),
    "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
}
_PROPAGATION_OPTIONS: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# Every mount option name understood here (runc features lists them).
OPTION_NAMES: tuple[str, ...] = tuple(sorted([*_FLAG_OPTIONS, *_PROPAGATION_OPTIONS]))

DEFAULT_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """(mount flags, propagation flags, data string) from runtime-spec mount options."""
    flags = 0
    propagation = 0
    data: list[str] = []
    for option in options:
        if option in _FLAG_OPTIONS:
            clear, flag = _FLAG_OPTIONS[option]
            flags = flags & ~flag if clear else flags | flag
        elif option in _PROPAGATION_OPTIONS:
            propagation |= _PROPAGATION_OPTIONS[option]
        else:
            data.append(option)
    return flags, propagation, ",".join(data)


def secure_join(root: str, path: str) -> str:
    """`path` under `root`, following symlinks as if `root` were `/`, so no mount lands outside."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 255:
                raise OSError(errno.ELOOP, f"too many symlinks in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _make_target(target: str, like_file: bool) -> None:
    if os.path.lexists(target):
        return
    if like_file:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass
    else:
        os.makedirs(target, exist_ok=True)


def mount_rootfs(rootfs: str, rootfs_mounts: list[dict[str, Any]]) -> None:
    """Mount the image's filesystem (overlay description from snapshots) on `rootfs`."""
    os.makedirs(rootfs, exist_ok=True)
    if not rootfs_mounts:
        # pivot_root needs `rootfs` to be a mount point.
        sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
        return
    for entry in rootfs_mounts:
        flags, _, data = parse_options(list(entry.get("options") or []))
        kind = entry.get("type") or ""
        if flags & sc.MS_BIND or kind == "bind":
            sc.mount(entry["source"], rootfs, None, flags | sc.MS_BIND | sc.MS_REC)
        else:
            sc.mount(entry.get("source") or kind, rootfs, kind, flags, data or None)


def _mount_cgroup_v1(target: str, flags: int, layout: Layout) -> None:
    sc.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
    for key in layout.v1_mounts:
        sub = os.path.join(target, key.replace("name=", ""))
        os.makedirs(sub, exist_ok=True)
        try:
            sc.mount("cgroup", sub, "cgroup", flags, key)
        except OSError:
            os.rmdir(sub)
    sc.mount(
        None, target, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    )


def mount_entry(rootfs: str, entry: dict[str, Any], layout: Layout | None = None) -> None:
    """One config.json mount, with runc's fallbacks when a namespace is shared with the host.

    `layout` is the host's cgroup layout, read before pivot_root: after it,
    /proc/self/mountinfo shows the container's mounts, not the host's hierarchies.
    """
    kind = entry.get("type") or ""
    source = entry.get("source") or kind
    flags, propagation, data = parse_options(list(entry.get("options") or []))
    target = secure_join(rootfs, entry["destination"])
    if kind == "bind" or flags & sc.MS_BIND:
        is_file = not os.path.isdir(source)
        _make_target(target, is_file)
        sc.mount(source, target, None, flags | sc.MS_BIND)
        if flags & ~(sc.MS_BIND | sc.MS_REC):
            sc.mount(None, target, None, flags | sc.MS_BIND | sc.MS_REMOUNT)
    elif kind == "cgroup":
        _make_target(target, False)
        layout = layout or detect_layout()
        if layout.version == 2 and layout.v2_mount:
            sc.mount("cgroup", target, "cgroup2", flags)
        else:
            _mount_cgroup_v1(target, flags, layout)
    else:
        _make_target(target, False)
        try:
            sc.mount(source, target, kind, flags, data or None)
        except PermissionError:
            # sysfs and mqueue refuse a fresh mount in a namespace shared with the host.
            if kind not in ("sysfs", "mqueue"):
                raise
            host = "/sys" if kind == "sysfs" else "/dev/mqueue"
            sc.mount(host, target, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(None, target, None, flags | sc.MS_BIND | sc.MS_REMOUNT | sc.MS_REC)
    if propagation:
        sc.mount(None, target, None, propagation)


def populate_dev(rootfs: str) -> None:
    """Device nodes bound from the host, and the usual symlinks."""
    dev = secure_join(rootfs, "/dev")
    for name in DEFAULT_DEVICES:
        target = os.path.join(dev, name)
        if os.path.lexists(target):
            continue
        _make_target(target, True)
        sc.mount(f"/dev/{name}", target, None, sc.MS_BIND)
    links = {
        "fd": "/proc/self/fd",
        "stdin": "/proc/self/fd/0",
        "stdout": "/proc/self/fd/1",
        "stderr": "/proc/self/fd/2",
        "core": "/proc/kcore",
    }
    if os.path.isdir(os.path.join(dev, "pts")):
        links["ptmx"] = "pts/ptmx"
    for name, link_target in links.items():
        path = os.path.join(dev, name)
        if not os.path.lexists(path):
            os.symlink(link_target, path)


def make_devices(rootfs: str, devices: list[dict[str, Any]]) -> None:
    """config.json's `linux.devices` (docker run --device) as nodes in the container's /dev."""
    kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    for device in devices:
        target = secure_join(rootfs, device["path"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)
        mode = int(device.get("fileMode", 0o666)) & 0o7777
        number = os.makedev(int(device.get("major", 0)), int(device.get("minor", 0)))
        os.mknod(target, mode | kinds[device.get("type", "c")], number)
        os.chmod(target, mode)  # mknod applied the umask
        os.chown(target, int(device.get("uid", 0)), int(device.get("gid", 0)))


def pivot_into(rootfs: str) -> None:
    """pivot_root with the old root stacked under the new one, then detached (runc's way)."""
    fd = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY)
    try:
        os.fchdir(fd)
        sc.pivot_root(".", ".")
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(fd)
    os.chdir("/")


def mask_paths(paths: list[str]) -> None:
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            else:
                sc.mount("/dev/null", path, None, sc.MS_BIND)
        except FileNotFoundError:
            continue


def readonly_paths(paths: list[str]) -> None:
    for path in paths:
        try:
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(
                None,
                path,
                None,
                sc.MS_BIND
                | sc.MS_REMOUNT
                | sc.MS_RDONLY
                | sc.MS_NOSUID
                | sc.MS_NODEV
                | sc.MS_NOEXEC
                | sc.MS_REC,
            )
        except FileNotFoundError:
            continue
