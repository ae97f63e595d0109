"""For tests: a tiny busybox root filesystem, and an OCI bundle over it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ketch.runtime.spec import default_spec

BUSYBOX = Path("/bin/busybox")

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
audio:x:29:app
app:x:1000:
nogroup:x:65534:
"""


def busybox_rootfs(path: Path, busybox: Path = BUSYBOX) -> Path:
    """Fill `path` with a busybox root (`/bin/<applet>` links, /etc files, empty mount points)."""
    path = Path(path)
    bin_dir = path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, bin_dir / "busybox")
    applets = subprocess.run(
        [str(busybox), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        link = bin_dir / applet
        if applet != "busybox" and not link.exists():
            os.symlink("busybox", link)
    for directory in ("proc", "sys", "dev", "tmp", "etc", "root", "home/app", "usr/bin", "var"):
        (path / directory).mkdir(parents=True, exist_ok=True)
    (path / "tmp").chmod(0o1777)
    (path / "etc" / "passwd").write_text(PASSWD)
    (path / "etc" / "group").write_text(GROUP)
    (path / "etc" / "hostname").write_text("")
    return path


def container_bundle(
    directory: Path, lower: Path, args: list[str], **spec_options: Any
) -> tuple[Path, list[dict[str, Any]]]:
    """An OCI bundle in `directory` running `args`, and an overlay over `lower` as its rootfs.

    `spec_options` go to `ketch.runtime.spec.default_spec`; returns (bundle, rootfs mounts).
    """
    directory = Path(directory)
    bundle = directory / "bundle"
    upper, work = directory / "upper", directory / "work"
    for path in (bundle, upper, work):
        path.mkdir(parents=True, exist_ok=True)
    config = default_spec(args, **spec_options)
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
    mounts = [
        {
            "type": "overlay",
            "source": "overlay",
            "options": [f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}"],
        }
    ]
    return bundle, mounts
