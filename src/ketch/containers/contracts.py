"""What the containers service needs of the other parts, as Protocols.

The service is written against these, not against the images service, the
snapshot store or the shim client themselves: the type checker holds the real
parts to them, and the service's unit tests run on fakes of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ketch.containers.record import Container
from ketch.images.model import Image
from ketch.network.model import Endpoint, EndpointRequest, Network, PortBinding
from ketch.snapshots.mounts import Mount

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Images(Protocol):
    """The images service, as containers use it: to resolve an image, and to commit one."""

    def get(self, name_or_id: str) -> Image: ...

    async def create_image(
        self,
        config: dict[str, Any],
        layer_tars: list[Path],
        parent: Image | None = None,
        tags: list[str] | None = None,
    ) -> Image: ...


class Snapshotter(Protocol):
    """A container's writable layer on its image's chain of layers."""

    def prepare(self, key: str, chain_id: str | None) -> list[Mount]:
        """Make the snapshot (idempotent) and say how to mount it."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """How to mount an existing snapshot; changes nothing. NotFound if there is none."""
        ...

    def remove(self, key: str) -> None: ...

    def snapshot_path(self, key: str) -> Path: ...

    def layer_dirs(self, chain_id: str | None) -> list[Path]:
        """The unpacked layers' directories, top first (a missing layer: NotFound)."""
        ...


class Exit(NamedTuple):
    code: int
    oom_killed: bool
    finished_at: str
    error: str = ""  # State.Error: why the run ended when the container did not say


class ExecProcess(Protocol):
    """A process started in a container by `docker exec`."""

    pid: int
    shim_exec_id: str
    streams: Streams | None  # frames to and from the process; None when detached

    async def wait(self) -> int: ...

    async def kill(self, signal: int) -> None: ...


class Shim(Protocol):
    """One container's monitor, as the service drives it."""

    shim_pid: int
    shim_start_time: int
    pid: int  # the container's init, once started
    exited: Exit | None  # set when the shim had already seen the container exit

    async def start(self) -> None: ...

    async def wait(self) -> Exit: ...

    async def state(self) -> dict[str, Any]: ...

    async def attach(self, stdin: bool, stdout: bool, stderr: bool) -> Streams: ...

    async def resize(self, height: int, width: int) -> None: ...

    async def kill(self, signal: int) -> None: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def exec(
        self, exec_id: str, config: dict[str, Any], *, detach: bool
    ) -> ExecProcess: ...

    async def exec_resize(self, shim_exec_id: str, height: int, width: int) -> None: ...

    async def shutdown(self) -> None:
        """Tell a shim whose container never ran to clean up and exit now."""
        ...

    async def close(self) -> None:
        """Let go of the shim: with no client left it lingers briefly, then exits."""
        ...


class ShimManager(Protocol):
    """Makes shims for containers and finds the live ones again after a restart."""

    async def spawn(
        self,
        container: Container,
        *,
        rootfs_mounts: Sequence[dict[str, Any]],
        cgroup_parent: str,
        log_max_size: int,
        log_max_files: int,
    ) -> Shim: ...

    async def reconnect(self, container: Container) -> Shim | None: ...

    async def end_of_lost_shim(self, container: Container, cgroup_parent: str) -> Exit:
        """A shim that died (or cannot be reached): what is left of its container is killed
        through its cgroup, as containerd does for a shim that disconnected; the exit the
        shim recorded, else 137 (killed) with the reason in `error`."""
        ...

    async def close(self) -> None: ...


class Networks(Protocol):
    """The network part, as containers use it: endpoints in a container's namespace."""

    def get(self, name_or_id: str) -> Network:
        """A network by name, id or unique id prefix; NotFound "network x not found"."""
        ...

    def create_namespace(self, path: str) -> None:
        """A new network namespace, loopback up, held at `path` (a file it makes) until
        remove_namespace; the container's runtime joins it by that path."""
        ...

    def remove_namespace(self, path: str) -> None:
        """Let go of the namespace at `path`: it ends with its last process, and the veths
        in it with it. A no-op when there is none."""
        ...

    async def attach(
        self,
        container_id: str,
        container_name: str,
        netns_path: str,
        request: EndpointRequest,
        ports: Sequence[PortBinding] = (),
    ) -> Endpoint:
        """Give the container (its network namespace at `netns_path`: one made by
        create_namespace, or /proc/<pid>/ns/net) an interface on the network: a veth made
        with its peer in that namespace (eth0, eth1, ... in order), an address from IPAM,
        Docker's MAC, the default route (first network), its names for the network's DNS,
        and `ports` published. Nothing is left half set up when it fails (a port taken:
        Conflict)."""
        ...

    async def detach(
        self, container_id: str, network: str | None = None, *, namespace_gone: bool = False
    ) -> None:
        """Undo attach on one network, or on all of the container's when None; a no-op for
        what is already gone. `namespace_gone`: the container's network namespace died with
        it, and its links with the namespace."""
        ...

    def endpoints(self, container_id: str) -> list[Endpoint]:
        """The container's endpoints, in the order they were attached."""
        ...
