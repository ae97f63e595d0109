"""What the API handlers see of the daemon: its config and its services, each through a
Protocol of exactly what the route modules call (moby's per-router backends are the
model). The daemon wires the real services in; the type checker holds them to these."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from ketch.build.options import BuildOptions
from ketch.config import DaemonConfig
from ketch.containers.attach import AttachSession
from ketch.containers.entry import ExecRecord
from ketch.containers.events import EventBus
from ketch.containers.record import Container
from ketch.errors import NotImplementedYet
from ketch.images.model import Image
from ketch.images.progress import Progress
from ketch.images.usage import LayerUsage
from ketch.network.model import Endpoint, Network
from ketch.registry import Auth


class ContainersBackend(Protocol):
    """api/containers.py's lifecycle routes (and the counts /info and /system/df show)."""

    async def create(
        self,
        name: str | None,
        config: dict[str, Any],
        host_config: dict[str, Any] | None = None,
        networking_config: dict[str, Any] | None = None,
    ) -> tuple[str, list[str]]: ...

    def get(self, name_or_id: str) -> Container: ...

    def list(
        self,
        all: bool = False,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        size: bool = False,
    ) -> builtins.list[dict[str, Any]]: ...

    def inspect(self, name_or_id: str, size: bool = False) -> dict[str, Any]: ...

    def counts(self) -> dict[str, int]: ...

    def image_in_use(self, image_id: str) -> builtins.list[str]: ...

    async def start(self, name_or_id: str) -> None: ...

    async def stop(
        self, name_or_id: str, timeout: int | None = None, signal: str | None = None
    ) -> None: ...

    async def restart(
        self, name_or_id: str, timeout: int | None = None, signal: str | None = None
    ) -> None: ...

    async def kill(self, name_or_id: str, signal: str | int | None = None) -> None: ...

    def wait_for(self, name_or_id: str, condition: str = ...) -> asyncio.Future[Any]: ...

    async def remove(self, name_or_id: str, force: bool = False, volumes: bool = False) -> None:
        ...

    async def resize(self, name_or_id: str, height: int, width: int) -> None: ...

    def logs(
        self,
        name_or_id: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> tuple[Container, AsyncIterator[tuple[int, bytes]]]: ...

    async def attach(
        self, name_or_id: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[Container, AttachSession]: ...

    async def pause(self, name_or_id: str) -> None: ...

    async def unpause(self, name_or_id: str) -> None: ...

    def rename(self, name_or_id: str, new_name: str) -> None: ...

    def remove_link(self, parent: str, alias: str) -> None: ...

    async def prune(self, filters: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def top(self, name_or_id: str, ps_args: str = "") -> dict[str, Any]: ...

    def stats(
        self, name_or_id: str, stream: bool, one_shot: bool = False
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def update(self, name_or_id: str, changes: dict[str, Any]) -> builtins.list[str]: ...

    async def connect(
        self, name_or_id: str, network_name: str, settings: dict[str, Any] | None = None
    ) -> None: ...

    async def disconnect(self, name_or_id: str, network_name: str, force: bool = False) -> None:
        ...


class FilesBackend(Protocol):
    """api/containers.py's routes over a container's files: cp, export, diff, commit."""

    async def commit(
        self,
        name_or_id: str,
        *,
        repo: str | None,
        tag: str | None,
        comment: str = "",
        author: str = "",
        config: dict[str, Any] | None = None,
        pause: bool = True,
        changes: list[str] | None = None,
    ) -> str: ...

    async def archive_stat(self, name_or_id: str, path: str) -> dict[str, Any]: ...

    async def archive_get(self, name_or_id: str, path: str, out: IO[bytes]) -> dict[str, Any]:
        ...

    async def archive_put(
        self, name_or_id: str, path: str, source: IO[bytes], copy_owner: bool = False
    ) -> None: ...

    async def export(self, name_or_id: str, out: IO[bytes]) -> None: ...

    def changes(self, name_or_id: str) -> list[dict[str, Any]]: ...


class ExecBackend(Protocol):
    """api/exec.py's routes."""

    def exec_create(self, name_or_id: str, config: dict[str, Any]) -> str: ...

    def exec_check_startable(self, exec_id: str) -> ExecRecord: ...

    async def exec_start(
        self, exec_id: str, *, detach: bool = False
    ) -> tuple[ExecRecord, AttachSession | None]: ...

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None: ...

    def exec_inspect(self, exec_id: str) -> dict[str, Any]: ...


class ImagesBackend(Protocol):
    """api/images.py's routes, and /auth."""

    async def pull(
        self,
        ref_text: str,
        progress: Progress,
        auth: Auth = None,
        platform: dict[str, Any] | None = None,
    ) -> Image: ...

    async def push(
        self, name: str, tag: str | None, progress: Progress, auth: Auth = None
    ) -> list[str]: ...

    async def login(self, auth: dict[str, Any]) -> str: ...

    async def distribution(
        self, name: str, auth: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    async def import_rootfs(
        self,
        source: Path,
        repo: str | None = None,
        tag: str | None = None,
        container_config: dict[str, Any] | None = None,
        message: str = "",
    ) -> Image: ...

    async def save(self, names: list[str], out: BinaryIO) -> None: ...

    async def load(self, archive_path: Path, progress: Progress) -> list[str]: ...

    def get(self, name_or_id: str) -> Image: ...

    def list(self) -> list[Image]: ...

    def tag(self, src: str, repo: str, tag: str | None = None) -> Image: ...

    def remove(
        self, name: str, force: bool = False, prune: bool = True
    ) -> builtins.list[dict[str, str]]: ...

    def prune(
        self, dangling_only: bool = True, filters: dict[str, builtins.list[str]] | None = None
    ) -> dict[str, Any]: ...

    def inspect(self, name: str) -> dict[str, Any]: ...

    def history(self, name: str) -> builtins.list[dict[str, Any]]: ...

    def layer_usage(self) -> LayerUsage: ...


class NetworksBackend(Protocol):
    """api/networks.py's routes (connect and disconnect go through the containers)."""

    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        attachable: bool = False,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        aux_addresses: dict[str, str] | None = None,
        ipam_options: dict[str, str] | None = None,
    ) -> Network:
        """Conflict "network with name x already exists"; InvalidArgument for a subnet that
        overlaps another network's or the host's routes, a gateway outside it, ..."""
        ...

    def get(self, name_or_id: str) -> Network: ...

    def list(self) -> builtins.list[Network]: ...

    def remove(self, name_or_id: str) -> None:
        """Forbidden for the predefined networks; Conflict while endpoints remain."""
        ...

    def endpoints_on(self, network_id: str) -> builtins.list[Endpoint]: ...


class VolumesBackend(Protocol):
    """api/volumes.py's routes (containers/volservice.py: it knows who uses a volume)."""

    def create(self, name: str = "", driver: str = "", options: dict[str, str] | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]: ...  # fmt: skip

    def inspect(self, name: str) -> dict[str, Any]: ...

    def list(
        self, filters: dict[str, builtins.list[str]], dangling: bool | None
    ) -> builtins.list[dict[str, Any]]: ...

    def remove(self, name: str, force: bool = False) -> None:
        """NotFound "get x: no such volume" (none when forced); Conflict while in use."""
        ...

    def prune(self, filters: dict[str, builtins.list[str]], every: bool) -> dict[str, Any]: ...

    def usage(self) -> builtins.list[dict[str, Any]]:
        """`/system/df`'s Volumes, each with UsageData (Size, RefCount)."""
        ...


class BuildBackend(Protocol):
    """api/build.py's routes: `POST /build`, `POST /build/prune`, and the build cache's
    rows in `/system/df`."""

    def build(
        self, options: BuildOptions, context: AsyncIterator[bytes]
    ) -> AsyncIterator[dict[str, Any]]:
        """Build from `context` (the request body: a tar, plain or gzip/bzip2/xz) and yield
        the JSON messages Docker's legacy builder writes, in order: {"stream": "Step 1/3 :
        FROM busybox\\n"}, {"stream": " ---> Using cache\\n"}, ..., {"aux": {"ID":
        "sha256:..."}}, {"stream": "Successfully built <short id>\\n"}, {"stream":
        "Successfully tagged app:1\\n"}; a failure is the last message, {"errorDetail":
        {"code": n, "message": m}, "error": m}, and leaves no tag and no container."""
        ...

    async def prune(
        self, *, all: bool = False, filters: dict[str, Any] | None = None,
        keep_storage: int | None = None,
    ) -> tuple[builtins.list[str], int]:
        """Removes build cache records; returns their ids and the bytes reclaimed."""
        ...

    def cache_usage(self) -> builtins.list[dict[str, Any]]:
        """`/system/df`'s BuildCache rows (Docker's BuildCache objects)."""
        ...


@dataclass
class Backend:
    config: DaemonConfig
    daemon_id: str
    images: ImagesBackend
    containers: ContainersBackend
    execs: ExecBackend
    files: FilesBackend
    events: EventBus
    networks_service: NetworksBackend | None = None  # None: a ketchd without networks
    build_service: BuildBackend | None = None  # None: a ketchd without the builder
    volumes_service: VolumesBackend | None = None  # None: a ketchd without volumes
    init_path: str | None = None  # docker-init for `run --init`, if the daemon has one
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def networks(self) -> NetworksBackend:
        if self.networks_service is None:
            raise NotImplementedYet("this ketchd has no networks but host and none")
        return self.networks_service

    @property
    def volumes(self) -> VolumesBackend:
        if self.volumes_service is None:
            raise NotImplementedYet("this ketchd has no volumes")
        return self.volumes_service

    @property
    def builder(self) -> BuildBackend:
        if self.build_service is None:
            raise NotImplementedYet("this ketchd has no builder")
        return self.build_service

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()
