"""The `local` driver's options (`type`, `device`, `o`) as dockerd reads them, and the
mount(2) they make on the volume's `_data` when a container uses the volume."""

from __future__ import annotations

import ctypes
import os

from ketch.errors import InvalidArgument, KetchError

VALID_OPTIONS = ("type", "o", "device", "size")
# An option that needs others beside it (dockerd's mandatoryOpts).
REQUIRED_WITH = {"device": ("type",), "type": ("device",), "o": ("device", "type")}

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS = 1, 2, 4, 8, 16
MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC, MS_NOATIME, MS_NODIRATIME = 32, 64, 128, 1024, 2048
MS_BIND, MS_REC, MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = (
    4096, 16384, 1 << 17, 1 << 18, 1 << 19, 1 << 20)  # fmt: skip
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
MNT_DETACH = 2

# mount(8)'s words for flags (as moby's mount package reads `o`): (clear, flag).
FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0), "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY),
    "suid": (True, MS_NOSUID), "nosuid": (False, MS_NOSUID), "dev": (True, MS_NODEV),
    "nodev": (False, MS_NODEV), "exec": (True, MS_NOEXEC), "noexec": (False, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS), "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC), "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME), "noatime": (False, MS_NOATIME),
    "diratime": (True, MS_NODIRATIME), "nodiratime": (False, MS_NODIRATIME),
    "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME), "nostrictatime": (True, MS_STRICTATIME),
}  # fmt: skip
PROPAGATION = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}  # fmt: skip

_libc = ctypes.CDLL(None, use_errno=True)


def validate_options(options: dict[str, str]) -> None:
    for key in options:
        if key not in VALID_OPTIONS:
            raise InvalidArgument(f"invalid option: {key!r}".replace("'", '"'))
    if options.get("size"):
        raise InvalidArgument("quota size requested but no quota support")
    for key, needed in REQUIRED_WITH.items():
        if key in options:
            for other in needed:
                if other not in options:
                    raise InvalidArgument(f'missing required option: "{other}"')


def parse_o(o: str) -> tuple[int, int, str]:
    """`o` as mount(8) reads it: (flags, propagation flags, the filesystem's data)."""
    flags = propagation = 0
    data: list[str] = []
    for word in (w for w in o.split(",") if w):
        if word in FLAGS:
            clear, flag = FLAGS[word]
            flags = flags & ~flag if clear else flags | flag
        elif word in PROPAGATION:
            propagation |= PROPAGATION[word]
        else:
            data.append(word)
    return flags, propagation, ",".join(data)


def needs_mount(options: dict[str, str]) -> bool:
    return bool(options.get("device") or options.get("type"))


def mount(options: dict[str, str], target: str) -> None:
    """Mount what `options` describe on `target`, as dockerd's local driver does."""
    device, kind = options.get("device", ""), options.get("type", "")
    flags, propagation, data = parse_o(options.get("o", ""))
    if flags & MS_BIND:
        # A bind takes its flags only on a remount of the bind (the kernel ignores them).
        _mount(device, target, "", flags & (MS_BIND | MS_REC), "")
        if flags & ~(MS_BIND | MS_REC):
            _mount("", target, "", flags | MS_REMOUNT | MS_BIND, "")
    else:
        _mount(device, target, kind, flags, data)
    if propagation:
        _mount("", target, "", propagation, "")


def _mount(source: str, target: str, kind: str, flags: int, data: str) -> None:
    result = _libc.mount(source.encode() or None, target.encode(), kind.encode() or None,
                         ctypes.c_ulong(flags), data.encode() or None)  # fmt: skip
    if result != 0:
        err = ctypes.get_errno()
        raise KetchError(
            f"failed to mount local volume: mount {source}:{target}, flags: {flags:#x}, "
            f"data: {data}: {os.strerror(err).lower()}"
        )


def unmount(target: str) -> None:
    _libc.umount2(target.encode(), MNT_DETACH)


def is_mounted(path: str) -> bool:
    """Whether something is mounted at `path` (a bind from the same filesystem too, which
    os.path.ismount cannot tell)."""
    wanted = os.path.realpath(path)
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split(" ")
            if len(fields) > 4 and _unescape(fields[4]) == wanted:
                return True
    return False


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field
