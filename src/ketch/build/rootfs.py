"""A snapshot's root filesystem mounted on the host for a moment: what COPY, ADD and
WORKDIR write into (as the legacy builder mounts an RWLayer), and a stage's or image's
files a COPY --from reads."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ketch.runtime import syscalls
from ketch.snapshots.mounts import Mount

MS_BIND = 4096
MS_REC = 16384
MNT_DETACH = 2


@contextlib.contextmanager
def mounted(mounts: list[Mount], target: Path) -> Iterator[Path]:
    """The snapshot's root at `target` (made, and removed after) until the block ends."""
    target.mkdir(parents=True, exist_ok=True)
    mount = mounts[0]
    if mount.type == "bind":
        syscalls.mount(mount.source, str(target), None, MS_BIND | MS_REC)
    else:
        syscalls.mount("overlay", str(target), "overlay", 0, ",".join(mount.options))
    try:
        yield target
    finally:
        syscalls.umount2(str(target), MNT_DETACH)
        with contextlib.suppress(OSError):
            os.rmdir(target)
