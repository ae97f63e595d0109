"""What `ketch-runtime` keeps about a container between its commands: `<root>/<id>/state.json`."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ketch import atomicfile
from ketch.errors import Conflict, InvalidArgument, NotFound
from ketch.runtime.procinfo import is_running
from ketch.runtime.procinfo import proc_start_time as proc_start_time  # for ketch-runtime's modules

DEFAULT_ROOT = Path("/run/ketch-runtime")
STATE_FILE = "state.json"
START_FIFO = "exec.fifo"
_VALID_ID = re.compile(r"^[\w+\-.]+$")


@dataclass
class ContainerState:
    id: str
    bundle: str
    rootfs: str
    pid: int
    pid_start_time: int | None
    created: str
    cgroup_parent: str
    cgroup_name: str
    annotations: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def directory(root: Path, container_id: str) -> Path:
        if not _VALID_ID.match(container_id):
            raise InvalidArgument(f"invalid id format: {container_id}")
        return Path(root) / container_id

    def save(self, root: Path) -> None:
        atomicfile.write_json(self.directory(root, self.id) / STATE_FILE, asdict(self))

    @classmethod
    def load(cls, root: Path, container_id: str) -> ContainerState:
        path = cls.directory(root, container_id) / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFound("container does not exist") from None
        return cls(**data)

    def alive(self) -> bool:
        return is_running(self.pid, self.pid_start_time)

    def status(self, root: Path, frozen: bool = False) -> str:
        """runc's words: created (waiting for start), running, paused or stopped."""
        if not self.alive():
            return "stopped"
        if frozen:
            return "paused"
        if (self.directory(root, self.id) / START_FIFO).exists():
            return "created"
        return "running"

    def oci_state(self, root: Path, frozen: bool = False) -> dict[str, Any]:
        status = self.status(root, frozen)
        return {
            "ociVersion": "1.2.0",
            "id": self.id,
            "pid": self.pid if status != "stopped" else 0,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": "",
            "annotations": self.annotations,
        }


def ensure_new(root: Path, container_id: str) -> Path:
    directory = ContainerState.directory(root, container_id)
    try:
        directory.mkdir(parents=True, mode=0o711)
    except FileExistsError:
        raise Conflict(f"container with id exists: {container_id}") from None
    return directory
