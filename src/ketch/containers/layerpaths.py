"""What of a writable layer is the container's own change, as Docker counts it for diff
and commit: not what lies under its mount points (volumes, binds, tmpfs), and not the
files ketch binds over /etc/hosts, /etc/hostname and /etc/resolv.conf (dockerd keeps
those in an init layer below the container's), nor a directory there only for them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ETC_MOUNTS = frozenset({"etc/hostname", "etc/hosts", "etc/resolv.conf"})


def _hidden(relative: str, mounts: list[str]) -> bool:
    return relative in ETC_MOUNTS or any(relative.startswith(m + "/") for m in mounts)


def hidden_entries(upper: Path, mount_points: list[dict[str, Any]]) -> set[str]:
    """The paths (relative to `upper`) diff and commit leave out."""
    mounts = [p["Destination"].strip("/") for p in mount_points if p["Destination"] != "/"]
    entries: list[tuple[str, bool]] = []
    for directory, dirnames, filenames in os.walk(upper):
        base = Path(directory).relative_to(upper)
        for name in dirnames:
            entries.append((str(base / name) if str(base) != "." else name, True))
        for name in filenames:
            entries.append((str(base / name) if str(base) != "." else name, False))
    hidden = {path for path, _ in entries if _hidden(path, mounts)}
    if not hidden:
        return hidden
    kept = {path for path, _ in entries if path not in hidden}
    # Deepest first: a directory whose every changed descendant is hidden goes too.
    for path, is_dir in sorted(entries, key=lambda e: e[0].count("/"), reverse=True):
        if not is_dir or path in hidden or path in mounts:
            continue  # a mount point's own directory is the container's, as in Docker's
        prefix = path + "/"
        if any(h.startswith(prefix) for h in hidden) and not any(
            k.startswith(prefix) for k in kept
        ):
            hidden.add(path)
            kept.discard(path)
    return hidden
