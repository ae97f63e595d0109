"""A container's writable layer as a layer tar: what `docker commit` and build steps store.

The reverse of unpacking: overlay's whiteouts (character devices 0:0) become
`.wh.<name>` entries, opaque directories get a `.wh..wh..opq` entry, owners
are numeric, xattrs go in PAX headers, hard links within the layer stay links.
Entries are sorted, so the same files give the same tar.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from ketch.snapshots.unpack import (
    FORBIDDEN_XATTR_PREFIX,
    OPAQUE_MARKER,
    OPAQUE_XATTR,
    PAX_XATTR_PREFIX,
    WHITEOUT_PREFIX,
)


def is_whiteout(info: os.stat_result) -> bool:
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


def read_xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found = {}
    for name in sorted(names):
        if name.startswith(FORBIDDEN_XATTR_PREFIX):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        # tarfile encodes PAX values as UTF-8; surrogateescape keeps any bytes.
        found[PAX_XATTR_PREFIX + name] = value.decode("utf-8", "surrogateescape")
    return found


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class LayerWriter:
    def __init__(self, root: Path, tar: tarfile.TarFile) -> None:
        self.root = root
        self.tar = tar
        self._links: dict[tuple[int, int], str] = {}

    def write_tree(self, relative: str = "") -> None:
        directory = self.root / relative if relative else self.root
        with os.scandir(directory) as scan:
            names = sorted(entry.name for entry in scan)
        for name in names:
            path = f"{relative}/{name}" if relative else name
            full = str(self.root / path)
            info = os.lstat(full)
            if is_whiteout(info):
                self._add_whiteout(relative, name, info)
                continue
            self._add(path, full, info)
            if stat.S_ISDIR(info.st_mode):
                if is_opaque(full):
                    self._add_whiteout(path, OPAQUE_MARKER[len(WHITEOUT_PREFIX) :], info)
                self.write_tree(path)

    def _add_whiteout(self, parent: str, hidden: str, info: os.stat_result) -> None:
        name = f"{WHITEOUT_PREFIX}{hidden}"
        entry = tarfile.TarInfo(f"{parent}/{name}" if parent else name)
        entry.mtime = int(info.st_mtime)
        entry.mode = 0o600
        self.tar.addfile(entry)

    def _add(self, path: str, full: str, info: os.stat_result) -> None:
        entry = tarfile.TarInfo(path)
        entry.uid, entry.gid = info.st_uid, info.st_gid
        entry.uname = entry.gname = ""
        entry.mode = stat.S_IMODE(info.st_mode)
        entry.mtime = info.st_mtime
        entry.pax_headers = read_xattrs(full)
        key = (info.st_dev, info.st_ino)
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1 and key in self._links:
            entry.type = tarfile.LNKTYPE
            entry.linkname = self._links[key]
            self.tar.addfile(entry)
            return
        if stat.S_ISREG(info.st_mode):
            if info.st_nlink > 1:
                self._links[key] = path
            entry.size = info.st_size
            with open(full, "rb") as data:
                self.tar.addfile(entry, data)
            return
        if stat.S_ISDIR(info.st_mode):
            entry.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(info.st_mode):
            entry.type = tarfile.SYMTYPE
            entry.linkname = os.readlink(full)
        elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
            entry.type = tarfile.CHRTYPE if stat.S_ISCHR(info.st_mode) else tarfile.BLKTYPE
            entry.devmajor, entry.devminor = os.major(info.st_rdev), os.minor(info.st_rdev)
        elif stat.S_ISFIFO(info.st_mode):
            entry.type = tarfile.FIFOTYPE
        else:
            return  # sockets are not part of a filesystem image
        self.tar.addfile(entry)


def write_layer_tar(directory: Path, out: BinaryIO) -> None:
    """Write `directory` (an overlay upper dir) to `out` as an uncompressed layer tar."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        LayerWriter(directory, tar).write_tree()
