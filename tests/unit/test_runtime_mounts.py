from __future__ import annotations

import os
from pathlib import Path

from ketch.runtime import syscalls as sc
from ketch.runtime.cgroups import parse_mountinfo
from ketch.runtime.mounts import parse_options, secure_join

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


def test_mountinfo_hybrid_is_v1_with_every_hierarchy() -> None:
    layout = parse_mountinfo(HYBRID)
    assert layout.version == 1
    assert layout.v1_mounts["memory"] == "/sys/fs/cgroup/memory"
    assert layout.v1_mounts["cpu,cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert layout.v1_mounts["name=systemd,xattr"] == "/sys/fs/cgroup/systemd"
    assert layout.v2_mount == "/sys/fs/cgroup/unified"


def test_mountinfo_unified_is_v2() -> None:
    layout = parse_mountinfo(UNIFIED)
    assert (layout.version, layout.v1_mounts, layout.v2_mount) == (2, {}, "/sys/fs/cgroup")


def test_parse_options_splits_flags_propagation_and_data() -> None:
    flags, propagation, data = parse_options(
        ["nosuid", "ro", "rbind", "rprivate", "mode=755", "size=65536k"]
    )
    assert flags == sc.MS_NOSUID | sc.MS_RDONLY | sc.MS_BIND | sc.MS_REC
    assert propagation == sc.MS_PRIVATE | sc.MS_REC
    assert data == "mode=755,size=65536k"
    assert parse_options(["ro", "rw"])[0] == 0


def test_secure_join_keeps_symlinks_inside_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/", tmp_path / "etc" / "up")
    os.symlink("../../../../outside", tmp_path / "escape")
    os.symlink("/etc", tmp_path / "abs")
    root = str(tmp_path)
    assert secure_join(root, "/etc/up/etc/hosts") == f"{root}/etc/hosts"
    assert secure_join(root, "/escape/x") == f"{root}/outside/x"
    assert secure_join(root, "/abs/hosts") == f"{root}/etc/hosts"
    assert secure_join(root, "/../../a/./b") == f"{root}/a/b"
