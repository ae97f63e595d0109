"""The runtime-spec config.json Docker would write for a container, as a dict (pure)."""

from __future__ import annotations

from typing import Any

from ketch.runtime.caps import DOCKER_DEFAULT_CAPS

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


def default_mounts() -> list[dict[str, Any]]:
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
    ]


def default_spec(
    args: list[str],
    *,
    env: list[str] | None = None,
    cwd: str = "/",
    tty: bool = False,
    hostname: str = "",
    uid: int = 0,
    gid: int = 0,
    additional_gids: list[int] | None = None,
    capabilities: list[str] | None = None,
    no_new_privileges: bool = False,
    readonly_rootfs: bool = False,
    rootfs: str = "rootfs",
    extra_mounts: list[dict[str, Any]] | None = None,
    namespaces: list[str] | None = None,
    rlimits: list[dict[str, Any]] | None = None,
    resources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """config.json as Docker's defaults make it; callers override fields afterwards as needed."""
    caps = list(DOCKER_DEFAULT_CAPS if capabilities is None else capabilities)
    process_env = list(env) if env is not None else [f"PATH={DEFAULT_PATH}"]
    user: dict[str, Any] = {"uid": uid, "gid": gid}
    if additional_gids:
        user["additionalGids"] = list(additional_gids)
    return {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": tty,
            "user": user,
            "args": list(args),
            "env": process_env,
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "inheritable": [],
                "ambient": [],
            },
            "rlimits": list(rlimits) if rlimits else [],
            "noNewPrivileges": no_new_privileges,
        },
        "root": {"path": rootfs, "readonly": readonly_rootfs},
        "hostname": hostname,
        "mounts": default_mounts() + list(extra_mounts or []),
        "linux": {
            "namespaces": [
                {"type": t}
                for t in (namespaces or ["mount", "network", "uts", "pid", "ipc", "cgroup"])
            ],
            "resources": dict(resources or {}),
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
