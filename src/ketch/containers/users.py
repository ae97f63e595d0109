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
from ketch.runtime.users import ExecLookupError, parse_group, resolve_user_in


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


class NoSuchUser(InvalidArgument):
    """A user or group the container's files do not name: dockerd finds out at start."""


def resolve(spec: str, layer_dirs: list[Path]) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for Docker's user forms: name, uid, x:group, x:gid."""
    try:
        user = resolve_user_in(
            spec,
            read_from_layers(layer_dirs, "etc/passwd"),
            read_from_layers(layer_dirs, "etc/group"),
        )
    except ExecLookupError as exc:
        raise NoSuchUser(exc.message) from None
    return user.uid, user.gid, user.additional_gids


def group_add(names: list[str], layer_dirs: list[Path]) -> list[int]:
    """HostConfig.GroupAdd as gids: numbers as given, names from the image's /etc/group."""
    gids: list[int] = []
    groups: list[tuple[str, int, list[str]]] | None = None
    for name in names:
        if name.isdigit():
            gids.append(int(name))
            continue
        if groups is None:
            groups = parse_group(read_from_layers(layer_dirs, "etc/group"))
        found = [gid for group, gid, _ in groups if group == name]
        if not found:
            raise NoSuchUser(
                f"Unable to find group {name}: no matching entries in group file"
            )
        gids.append(found[0])
    return gids
