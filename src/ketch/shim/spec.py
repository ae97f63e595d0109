"""What the daemon asks of a shim: the container to run, an exec to add, and exits reported.

Plain classes, not dataclasses: the fork server imports this, and dataclasses
(with inspect, ast, dis) would be ~1.3 MiB more heap that every shim maps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from ketch.shim.execspec import ExecSpec, Record
from ketch.shim.jsonlog import DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE

__all__ = ["ExecSpec", "ExitStatus", "ShimSpec"]


class ShimSpec(Record):
    _fields = (
        "id", "bundle", "rootfs_mounts", "state_dir", "socket_path", "tty", "open_stdin",
        "stdin_once", "log_path", "log_max_size", "log_max_files", "cgroup_parent", "resources",
        "linger_seconds",
    )  # fmt: skip

    def __init__(
        self,
        id: str,
        bundle: Path,
        rootfs_mounts: list[dict[str, Any]],
        state_dir: Path,
        socket_path: Path,
        tty: bool = False,
        open_stdin: bool = False,
        stdin_once: bool = False,
        log_path: Path | None = None,
        log_max_size: int = DEFAULT_MAX_SIZE,
        log_max_files: int = DEFAULT_MAX_FILES,
        cgroup_parent: str = "ketch",
        # runtime-spec linux.resources; None: take config.json's.
        resources: dict[str, Any] | None = None,
        # How long an exited container's shim waits for a client before it cleans up and exits.
        linger_seconds: float = 10.0,
    ) -> None:
        self.id = id
        self.bundle = bundle
        self.rootfs_mounts = rootfs_mounts
        self.state_dir = state_dir
        self.socket_path = socket_path
        self.tty = tty
        self.open_stdin = open_stdin
        self.stdin_once = stdin_once
        self.log_path = log_path
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self.cgroup_parent = cgroup_parent
        self.resources = resources
        self.linger_seconds = linger_seconds

    def to_dict(self) -> dict[str, Any]:
        data = self._values()
        for key in ("bundle", "state_dir", "socket_path", "log_path"):
            if data[key] is not None:
                data[key] = str(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShimSpec:
        values = dict(data)
        for key in ("bundle", "state_dir", "socket_path", "log_path"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        return cls(**values)


class ExitStatus(NamedTuple):
    code: int
    oom_killed: bool
    finished_at: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExitStatus:
        return cls(
            int(data["exit_code"]), bool(data.get("oom_killed")), data.get("finished_at", "")
        )
