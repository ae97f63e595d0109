"""`docker commit`: a container's writable layer as a new image layer.

Overlay records deletions as 0:0 character devices and opaque directories as
an xattr; an image layer records them as `.wh.<name>` and `.wh..wh..opq`.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def write_layer(upper: Path, out: Path, skip: frozenset[str] | set[str] = frozenset()) -> None:
    """Tar `upper` in image-layer form (uncompressed), keeping owners, modes and links;
    `skip`: paths relative to `upper` left out with what is under them."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        seen_inodes: dict[tuple[int, int], str] = {}
        for directory, dirnames, filenames in os.walk(upper):
            base = Path(directory)
            relative_dir = base.relative_to(upper)
            if skip:
                dirnames[:] = [d for d in dirnames if _rel(relative_dir, d) not in skip]
                filenames = [f for f in filenames if _rel(relative_dir, f) not in skip]
            dirnames.sort()
            if base != upper:
                tar.addfile(_info(tar, base, str(relative_dir)))
            if _is_opaque(base) and base != upper:
                marker = tarfile.TarInfo(str(relative_dir / ".wh..wh..opq"))
                tar.addfile(marker)
            for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
                path = base / name
                arcname = str(relative_dir / name) if base != upper else name
                st = os.lstat(path)
                if _is_whiteout(st):
                    parent = os.path.dirname(arcname)
                    tar.addfile(tarfile.TarInfo(os.path.join(parent, ".wh." + name)))
                    continue
                key = (st.st_dev, st.st_ino)
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in seen_inodes:
                    link = tarfile.TarInfo(arcname)
                    link.type = tarfile.LNKTYPE
                    link.linkname = seen_inodes[key]
                    tar.addfile(link)
                    continue
                seen_inodes[key] = arcname
                info = _info(tar, path, arcname)
                if info.isreg():
                    with open(path, "rb") as source:
                        tar.addfile(info, source)
                else:
                    tar.addfile(info)


def _rel(relative_dir: Path, name: str) -> str:
    return name if str(relative_dir) == "." else str(relative_dir / name)


def _info(tar: tarfile.TarFile, path: Path, arcname: str) -> tarfile.TarInfo:
    info = tar.gettarinfo(str(path), arcname)
    # Names of owners come from the host's files, which mean nothing in the image.
    info.uname = info.gname = ""
    xattrs = {}
    try:
        for name in os.listxattr(path, follow_symlinks=False):
            if name.startswith(("trusted.overlay.", "user.overlay.")):
                continue
            value = os.getxattr(path, name, follow_symlinks=False)
            xattrs[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    except OSError:
        pass
    if xattrs:
        info.pax_headers = {**info.pax_headers, **xattrs}
    return info
