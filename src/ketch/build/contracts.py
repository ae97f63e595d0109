"""What the builder needs of the other parts, as Protocols.

The build service is written against these: the images service and the containers
service (the very calls `docker commit` and `docker run` use), the snapshot store (a
rootfs to COPY into), and the Dockerfile tools of this package (parser, word expansion,
build context, copier), which the daemon wires in. Its unit tests run on fakes of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ketch.build.instructions import Dockerfile
from ketch.images.model import Image
from ketch.snapshots.mounts import Mount

Progress = Callable[[dict[str, Any]], None]


class Images(Protocol):
    """The images service: base images (local or pulled), new images, tags."""

    def get(self, name_or_id: str) -> Image: ...

    async def pull(
        self,
        ref_text: str,
        progress: Progress,
        auth: dict[str, Any] | None = None,
        platform: dict[str, Any] | None = None,
    ) -> Image: ...

    async def create_image(
        self,
        config: dict[str, Any],
        layer_tars: list[Path],
        parent: Image | None = None,
        tags: list[str] | None = None,
    ) -> Image: ...

    def tag(self, src: str, repo: str, tag: str | None = None) -> Image: ...

    def remove(
        self, name: str, force: bool = False, prune: bool = True
    ) -> list[dict[str, str]]: ...


class Output(Protocol):
    """An attach session's output: (1 stdout | 2 stderr, bytes), None at the end."""

    async def next_output(self) -> tuple[int, bytes] | None: ...


class Containers(Protocol):
    """The containers service: a RUN step is a real container, created, attached,
    started, waited for and removed as `docker run` does it."""

    async def create(
        self,
        name: str | None,
        config: dict[str, Any],
        host_config: dict[str, Any] | None = None,
        networking_config: dict[str, Any] | None = None,
    ) -> tuple[str, list[str]]: ...

    async def attach(
        self, name_or_id: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[Any, Output]: ...

    def wait_for(self, name_or_id: str, condition: str = "not-running") -> asyncio.Future[Any]:
        ...

    async def start(self, name_or_id: str) -> None: ...

    async def remove(self, name_or_id: str, force: bool = False, volumes: bool = False) -> None:
        ...


class Snapshots(Protocol):
    """The snapshot store: writable layers on an image's chain, and their changes."""

    def prepare(self, key: str, chain_id: str | None) -> list[Mount]: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def layer_dirs(self, chain_id: str | None) -> list[Path]:
        """The unpacked layers of a chain, top first."""
        ...

    def remove(self, key: str) -> None: ...

    def diff(self, key: str, out: BinaryIO) -> None:
        """The snapshot's changes as an uncompressed layer tar (a container's snapshot
        key is its id)."""
        ...


# -- the Dockerfile tools ----------------------------------------------------------------


class Parse(Protocol):
    def __call__(self, text: str, file: str = "Dockerfile") -> Dockerfile: ...


class Expand(Protocol):
    """One word with `$VAR`, `${VAR:-x}`... replaced (build/substitution.py's `expand`)."""

    def __call__(self, word: str, env: Mapping[str, str], *, escape: str = "\\") -> str: ...


class ExpandWords(Protocol):
    """A word into words, split where unquoted expansions hold blanks (EXPOSE's rule)."""

    def __call__(
        self, word: str, env: Mapping[str, str], *, escape: str = "\\"
    ) -> list[str]: ...


class UnpackContext(Protocol):
    """The request body (a tar, plain or compressed) into `dest`."""

    async def __call__(self, chunks: AsyncIterator[bytes], dest: Path) -> None: ...


class ReadDockerfile(Protocol):
    def __call__(self, context: Path, name: str) -> str: ...


@dataclass(frozen=True)
class CopyRequest:
    """One COPY or ADD, words expanded: `sources` relative to `source_root` (the context,
    or a stage's or image's root filesystem), into the mounted root `rootfs`; `dest`
    relative to `workdir` unless absolute."""

    source_root: Path
    sources: tuple[str, ...]
    rootfs: Path
    dest: str
    workdir: str = "/"
    chown: str | None = None
    chmod: str | None = None
    add: bool = False  # ADD: local tars unpacked, URLs fetched
    preserve_owner: bool = False  # COPY --from without --chown keeps the owners
    exclude: tuple[str, ...] = ()
    checksum: str | None = None
    from_context: bool = True  # the context's .dockerignore applies


class Copier(Protocol):
    """Docker's COPY/ADD semantics (build/copying.py)."""

    def copy(self, request: CopyRequest) -> None: ...

    def sources_digest(self, source_root: Path, sources: Sequence[str]) -> str:
        """A digest of what the sources name (paths, contents, modes): the cache key."""
        ...


@dataclass(frozen=True)
class Tools:
    """The Dockerfile side of the builder, wired in by the daemon."""

    parse: Parse
    expand: Expand
    expand_words: ExpandWords
    unpack_context: UnpackContext
    read_dockerfile: ReadDockerfile
    copier: Copier
