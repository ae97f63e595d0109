"""A container's record on disk: config.v2.json in Docker's model, written atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ketch import atomicfile
from ketch.timestamps import ZERO_TIME


def fresh_state() -> dict[str, Any]:
    return {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "RemovalInProgress": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
    }


@dataclass
class Container:
    id: str
    name: str  # with Docker's leading "/"
    created: str
    path: str
    args: list[str]
    config: dict[str, Any]
    host_config: dict[str, Any]
    image_id: str
    directory: Path
    state: dict[str, Any] = field(default_factory=fresh_state)
    restart_count: int = 0
    networking_config: dict[str, Any] = field(default_factory=dict)
    chain_id: str | None = None
    shim_pid: int = 0
    shim_start_time: int = 0
    has_been_started: bool = False
    manually_stopped: bool = False
    # Its mount points (mountpoints.py's model), volumes resolved at create; None for a
    # record from before they were kept (its binds and mounts are read again).
    mount_points: list[dict[str, Any]] | None = None

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running"))

    @property
    def image_name(self) -> str:
        """The image as the user named it (Docker shows that, not the id)."""
        return str(self.config.get("Image") or self.image_id)

    @property
    def log_driver(self) -> str:
        return (self.host_config.get("LogConfig") or {}).get("Type") or "json-file"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.id}-json.log"

    @property
    def bundle(self) -> Path:
        return self.directory / "bundle"

    @property
    def netns_path(self) -> Path:
        """Where its network namespace is held while it runs on a bridge (Docker's
        SandboxKey); config.json names it for the runtime to join."""
        return self.directory / "netns"

    def to_disk(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": self.args,
            "Config": self.config,
            "HostConfig": self.host_config,
            "NetworkingConfig": self.networking_config,
            "Image": self.image_id,
            "Name": self.name,
            "State": self.state,
            "RestartCount": self.restart_count,
            "Driver": "overlay2",
            "LogPath": str(self.log_path),
            "HostnamePath": str(self.directory / "hostname"),
            "HostsPath": str(self.directory / "hosts"),
            "ResolvConfPath": str(self.directory / "resolv.conf"),
            "ChainID": self.chain_id,
            "ShimPid": self.shim_pid,
            "ShimStartTime": self.shim_start_time,
            "HasBeenStartedBefore": self.has_been_started,
            "HasBeenManuallyStopped": self.manually_stopped,
            "MountPoints": self.mount_points,
        }

    @classmethod
    def from_disk(cls, directory: Path, data: dict[str, Any]) -> Container:
        return cls(
            id=data["ID"],
            name=data["Name"],
            created=data["Created"],
            path=data["Path"],
            args=data["Args"],
            config=data["Config"],
            host_config=data["HostConfig"],
            image_id=data["Image"],
            directory=directory,
            state=data["State"],
            restart_count=data.get("RestartCount", 0),
            networking_config=data.get("NetworkingConfig") or {},
            chain_id=data.get("ChainID"),
            shim_pid=data.get("ShimPid", 0),
            shim_start_time=data.get("ShimStartTime", 0),
            has_been_started=data.get("HasBeenStartedBefore", False),
            manually_stopped=data.get("HasBeenManuallyStopped", False),
            mount_points=data.get("MountPoints"),
        )

    def save(self) -> None:
        # Compact, as dockerd writes it: json.dumps with an indent runs the pure-Python
        # encoder (~5x slower), and a container is saved at least twice per run.
        atomicfile.write_json(self.directory / "config.v2.json", self.to_disk())

    @classmethod
    def load(cls, directory: Path) -> Container:
        return cls.from_disk(directory, json.loads((directory / "config.v2.json").read_text()))
