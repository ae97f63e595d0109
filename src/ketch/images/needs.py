"""What the image service needs of the parts below it, and nothing more.

The daemon hands it ketch's content store, snapshot store and registry
client; these protocols say which of their methods images/ relies on, so a
change to one of those parts that breaks images/ fails the type check, and
images/ can be driven by anything else of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from ketch.oci.manifest import Descriptor, Manifest
from ketch.oci.reference import Reference
from ketch.registry import Auth, BlobStore, BlobWriter, ProgressCallback
from ketch.snapshots.decompress import BlobFile
from ketch.snapshots.store import StagedLayer

__all__ = ["Blobs", "FollowableWriter", "FollowReader", "Layers", "Registry", "StagedLayer"]


class FollowReader(BlobFile, Protocol):
    """An ingest read while it is written (ketch.content.IngestReader fits)."""

    interrupted: bool

    def close(self) -> None: ...


class FollowableWriter(BlobWriter, Protocol):
    """An ingest that can be read while it is written (ketch.content.Ingest fits)."""

    def follow(self) -> FollowReader: ...


class Blobs(BlobStore, Protocol):
    """The content store: blobs by digest (ketch.content.ContentStore fits)."""

    def path(self, digest: str) -> Path: ...
    def read_bytes(self, digest: str) -> bytes: ...
    def put_bytes(self, data: bytes, digest: str | None = None) -> str: ...
    def delete(self, digest: str) -> None: ...
    def drop_ingest(self, digest: str) -> bool: ...
    def writer(self, digest: str, size: int | None = None) -> FollowableWriter: ...


class Layers(Protocol):
    """The snapshot store's unpacked layers, by ChainID (ketch.snapshots.SnapshotStore fits)."""

    def has_layer(self, chain_id: str) -> bool: ...
    def layers(self) -> list[str]: ...
    def layer_size(self, chain_id: str) -> int: ...
    def layer_path(self, chain_id: str) -> Path: ...
    def remove_layer(self, chain_id: str) -> None: ...

    def apply_layer(
        self,
        parent_chain_id: str | None,
        blob_path: Path,
        media_type: str,
        diff_id: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[str, str, int]:
        """Unpack a layer blob on a parent chain: (chain_id, diff_id, size)."""
        ...

    def stage_layer(
        self, blob: BlobFile, name: str, progress: Callable[[int], None] | None = None
    ) -> StagedLayer:
        """Unpack a layer blob (maybe still arriving) where no chain sees it yet."""
        ...

    def commit_layer(
        self, parent_chain_id: str | None, staged: StagedLayer, diff_id: str | None = None
    ) -> tuple[str, str, int]:
        """Put a staged layer on its chain, checked against `diff_id`."""
        ...

    def discard_layer(self, staged: StagedLayer) -> None: ...


class Registry(Protocol):
    """A registry session, for pull and push (ketch.registry.RegistryClient fits)."""

    async def get_manifest(
        self, ref: Reference, platform: dict[str, Any] | None = None, auth: Auth = None
    ) -> Manifest: ...

    async def fetch_blob(
        self,
        ref: Reference,
        desc: Descriptor,
        content_store: BlobStore,
        progress: ProgressCallback | None = None,
        auth: Auth = None,
    ) -> str: ...

    async def push_blob(
        self,
        ref: Reference,
        data_or_path: bytes | Path,
        digest: str,
        auth: Auth = None,
        mount_from: Sequence[str] = (),
        on_mount: Callable[[str], None] | None = None,
    ) -> str: ...

    async def push_manifest(
        self, ref: Reference, raw: bytes, media_type: str, auth: Auth = None
    ) -> str: ...
