"""Resolve Config.User against the image's own /etc/passwd and /etc/group.

The files are read from the image's layers top-down (the first layer that has
a file wins), so a user is known before the container's root is mounted.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from ketch.errors import InvalidArgument
from ketch.runtime.users import parse_group, parse_passwd


def read_from_layers(layer_dirs: Iterable[Path], relative: str) -> str:
    """The file as the stacked layers show it: whiteouts and opaque dirs hide lower ones."""
    for layer in layer_dirs:
        candidate = layer / relative
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            if _opaque(layer / Path(relative).parent):
                return ""
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return ""  # deleted in this layer
        if not stat.S_ISREG(st.st_mode):
            return ""  # a link may point outside the layer: refuse to follow it
        return candidate.read_text(errors="replace")
    return ""


def _opaque(directory: Path) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(directory, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def resolve(spec: str, layer_dirs: list[Path]) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for Docker's user forms: name, uid, x:group, x:gid."""
    user_part, _, group_part = (spec or "0").partition(":")
    passwd = parse_passwd(read_from_layers(layer_dirs, "etc/passwd"))
    groups = parse_group(read_from_layers(layer_dirs, "etc/group"))
    name: str | None = None
    uid = gid = 0
    if user_part.isdigit():
        uid = int(user_part)
        for entry_name, entry_uid, entry_gid, _ in passwd:
            if entry_uid == uid:
                name, gid = entry_name, entry_gid
                break
    else:
        for entry_name, entry_uid, entry_gid, _ in passwd:
            if entry_name == user_part:
                name, uid, gid = entry_name, entry_uid, entry_gid
                break
        else:
            raise InvalidArgument(
                f"unable to find user {user_part}: no matching entries in passwd file"
            )
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            for group_name, group_gid, _ in groups:
                if group_name == group_part:
                    gid = group_gid
                    break
            else:
                raise InvalidArgument(
                    f"unable to find group {group_part}: no matching entries in group file"
                )
    extra = sorted({g for _, g, members in groups if name is not None and name in members})
    return uid, gid, [g for g in extra if g != gid]
