"""What the daemon asks of a shim: the container to run, an exec to add, and exits reported."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ketch.shim.jsonlog import DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE


@dataclass
class ShimSpec:
    id: str
    bundle: Path
    rootfs_mounts: list[dict[str, Any]]
    state_dir: Path
    socket_path: Path
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    log_path: Path | None = None
    log_max_size: int = DEFAULT_MAX_SIZE
    log_max_files: int = DEFAULT_MAX_FILES
    cgroup_parent: str = "ketch"
    # runtime-spec linux.resources; None: take config.json's.
    resources: dict[str, Any] | None = None
    # How long an exited container's shim waits for a client before it cleans up and exits.
    linger_seconds: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
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


@dataclass
class ExecSpec:
    id: str
    args: list[str]
    # The whole environment of the process; empty: the container's own.
    env: list[str] = field(default_factory=list)
    # Docker's --user forms ("", "name", "uid:gid"); empty: the container's user.
    user: str = ""
    cwd: str = ""
    tty: bool = False
    stdin: bool = False
    privileged: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecSpec:
        return cls(**data)


@dataclass(frozen=True)
class ExitStatus:
    code: int
    oom_killed: bool
    finished_at: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExitStatus:
        return cls(
            int(data["exit_code"]), bool(data.get("oom_killed")), data.get("finished_at", "")
        )
