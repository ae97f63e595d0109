"""The filesystem the snapshots live on, named as dockerd's overlay2 names it in
`docker info` ("Backing Filesystem"): statfs(2)'s f_type through moby's fsmagic table."""

from __future__ import annotations

import ctypes
import os
from functools import cache

# moby's graphdriver FsNames: statfs f_type -> the name dockerd reports.
FS_NAMES = {
    0x61756673: "aufs",
    0x9123683E: "btrfs",
    0x28CD3D45: "cramfs",
    0x0000F15F: "ecryptfs",
    0xE0F5E1E2: "erofs",
    0x0000EF53: "extfs",  # ext2, ext3 and ext4 share the magic
    0xF2F52010: "f2fs",
    0x65735546: "fuse",
    0x47504653: "gpfs",
    0x000072B6: "jffs2",
    0x3153464A: "jfs",
    0x00006969: "nfs",
    0x794C7630: "overlayfs",
    0x858458F6: "ramfs",
    0x52654973: "reiserfs",
    0x0000517B: "smb",
    0x73717368: "squashfs",
    0x01021994: "tmpfs",
    0x00000000: "unsupported",
    0xA501FCF5: "vxfs",
    0x58465342: "xfs",
    0x2FC12FC1: "zfs",
}
UNKNOWN = "<unknown>"  # dockerd's word for a magic it has no name for

# struct statfs begins with f_type (a C long on every Linux ABI); the rest is
# room enough for the whole struct (120 bytes on 64-bit machines).
_STATFS_SIZE = 256


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def fs_magic(path: str | os.PathLike[str]) -> int:
    """statfs(2)'s f_type for the filesystem holding `path`."""
    buf = ctypes.create_string_buffer(_STATFS_SIZE)
    if _libc().statfs(os.fsencode(path), buf) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), str(path))
    return ctypes.c_ulong.from_buffer(buf).value & 0xFFFFFFFF


def backing_filesystem(path: str | os.PathLike[str]) -> str:
    """Docker's name for the filesystem holding `path`: extfs, xfs, tmpfs, overlayfs, ..."""
    try:
        return FS_NAMES.get(fs_magic(path), UNKNOWN)
    except OSError:
        return UNKNOWN


class _Dirent(ctypes.Structure):
    # glibc's struct dirent on 64-bit Linux (readdir is readdir64 there).
    _fields_ = [
        ("d_ino", ctypes.c_uint64),
        ("d_off", ctypes.c_int64),
        ("d_reclen", ctypes.c_ushort),
        ("d_type", ctypes.c_ubyte),
        ("d_name", ctypes.c_char * 256),
    ]


DT_UNKNOWN = 0


@cache
def supports_d_type(path: str | os.PathLike[str]) -> bool:
    """Whether readdir(3) on the filesystem holding `path` says what each entry is (overlay
    needs it): a file made in a scratch directory there and read back, as dockerd checks."""
    import tempfile

    libc = _libc()
    libc.opendir.restype = ctypes.c_void_p
    libc.opendir.argtypes = [ctypes.c_char_p]
    libc.readdir.restype = ctypes.POINTER(_Dirent)
    libc.readdir.argtypes = [ctypes.c_void_p]
    libc.closedir.argtypes = [ctypes.c_void_p]
    with tempfile.TemporaryDirectory(dir=path, prefix=".d_type-") as scratch:
        open(os.path.join(scratch, "probe"), "w").close()
        directory = libc.opendir(os.fsencode(scratch))
        if not directory:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), scratch)
        try:
            while entry := libc.readdir(directory):
                if entry.contents.d_name == b"probe":
                    return bool(entry.contents.d_type != DT_UNKNOWN)
        finally:
            libc.closedir(directory)
    return False
