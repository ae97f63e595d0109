"""Layers unpacked once per ChainID, and overlay snapshots for containers.

On disk, under the store's root:
  layers/<chain hex>/diff         the layer's files, whiteouts in overlay's form
  layers/<chain hex>/layer.json   chain id, diff id, parent, size, short link name
  l/<short>                       symlink to ../layers/<chain hex>/diff, because
                                  overlay's option string is limited to a page
  containers/<key>/upper, work    a container's writable layer
  containers/<key>/snapshot.json  the chain the container's snapshot sits on

The store describes mounts and never mounts anything: that is the runtime's job.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ketch import atomicfile, errors
from ketch.snapshots import chain
from ketch.snapshots.mounts import Mount

if TYPE_CHECKING:
    from ketch.snapshots.decompress import Blob, BlobFile

# The unpacker, the exporter and the decompressors (tarfile, zstandard, isal: ~1 MiB) are
# imported by the calls that unpack or export a layer, not by a daemon that only runs
# containers from layers it has.

LINK_ALPHABET = string.ascii_uppercase + string.digits
LINK_LENGTH = 26
# The kernel copies mount options into one page.
MAX_MOUNT_OPTIONS = 4096 - 1
TEMP_PREFIX = ".tmp-"
DOOMED_PREFIX = ".del-"


@dataclass(frozen=True)
class LayerInfo:
    chain_id: str
    diff_id: str
    parent: str | None
    size: int
    link: str


@dataclass(frozen=True)
class StagedLayer:
    """A layer unpacked into a directory of its own, on no chain yet."""

    directory: Path
    name: str
    diff_id: str
    size: int


def hex_of(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    if (
        algorithm != "sha256"
        or len(hex_part) != 64
        or not all(c in string.hexdigits.lower() for c in hex_part)
    ):
        raise errors.InvalidArgument(f"invalid chain id {digest!r}")
    return hex_part


def valid_key(key: str) -> str:
    if not key or key in (".", "..") or "/" in key or "\0" in key:
        raise errors.InvalidArgument(f"invalid snapshot key {key!r}")
    return key


class SnapshotStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._layers = self.root / "layers"
        self._links = self.root / "l"
        self._containers = self.root / "containers"
        for directory in (self._layers, self._links, self._containers):
            directory.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._chain_locks: dict[str, threading.Lock] = {}
        # layer.json of each layer read once: a layer never changes once committed, and
        # each container's start and inspect walks its image's chain (per layer, its
        # parent and its link).
        self._infos: dict[str, LayerInfo] = {}
        self._discard_leftovers()

    # -- layers ------------------------------------------------------------

    @staticmethod
    def chain_id(parent_chain_id: str | None, diff_id: str) -> str:
        return chain.chain_id(parent_chain_id, diff_id)

    def has_layer(self, chain_id: str) -> bool:
        return (self._layer_dir(chain_id) / "layer.json").is_file()

    def layer(self, chain_id: str) -> LayerInfo:
        info = self._infos.get(chain_id)
        if info is not None:
            return info
        record = self._layer_dir(chain_id) / "layer.json"
        try:
            info = LayerInfo(**json.loads(record.read_text()))
        except FileNotFoundError:
            raise errors.NotFound(f"layer does not exist: {chain_id}") from None
        with self._guard:  # not kept if remove_layer took it meanwhile
            if record.is_file():
                self._infos[chain_id] = info
        return info

    def layers(self) -> list[str]:
        found = []
        for entry in self._layers.iterdir():
            if not entry.name.startswith(".") and (entry / "layer.json").is_file():
                found.append(f"sha256:{entry.name}")
        return sorted(found)

    def layer_size(self, chain_id: str) -> int:
        return self.layer(chain_id).size

    def layer_path(self, chain_id: str) -> Path:
        """The layer's own files (its diff), for readers such as save/export."""
        if not self.has_layer(chain_id):
            raise errors.NotFound(f"layer does not exist: {chain_id}")
        return self._layer_dir(chain_id) / "diff"

    def apply_layer(
        self,
        parent_chain_id: str | None,
        blob_path: Path,
        media_type: str,
        diff_id: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[str, str, int]:
        """Unpack a layer blob on top of a parent chain: (chain_id, diff_id, size).

        `media_type` is informative: the compression is sniffed from the blob.
        With `diff_id` known (from the image config) an existing layer is
        found without reading the blob, and the blob is checked against it.
        `progress(bytes_read)` is called from this thread as the blob is read.
        """
        del media_type
        self._check_parent(parent_chain_id)
        if diff_id is not None:
            known = self.chain_id(parent_chain_id, diff_id)
            if self.has_layer(known):
                return known, diff_id, self.layer(known).size
        with open(blob_path, "rb") as blob:
            staged = self.stage_layer(blob, blob_path.name, progress)
        return self.commit_layer(parent_chain_id, staged, diff_id)

    def stage_layer(
        self, blob: BlobFile, name: str, progress: Callable[[int], None] | None = None
    ) -> StagedLayer:
        """Unpack a layer blob, read from its first byte, into a directory of its own
        that no chain sees until `commit_layer`; `name` names the layer in errors.

        `blob` may be a stream still arriving (a followed ingest): what it yields is
        unpacked, and the DiffID is known once it ends. On any failure nothing stays.
        """
        temp = self._layers / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        from ketch.snapshots.decompress import CountingReader

        try:
            (temp / "diff").mkdir(parents=True)
            raw: BlobFile = CountingReader(blob, progress) if progress else blob
            diff_id, size = self._unpack(raw, name, temp / "diff")
        except BaseException as exc:
            shutil.rmtree(temp, ignore_errors=True)
            if isinstance(exc, OSError) and errors.is_storage_error(exc):
                raise errors.storage_error(exc, temp) from None
            raise
        return StagedLayer(temp, name, diff_id, size)

    def commit_layer(
        self, parent_chain_id: str | None, staged: StagedLayer, diff_id: str | None = None
    ) -> tuple[str, str, int]:
        """Put a staged layer on its parent chain: (chain_id, diff_id, size).

        With `diff_id` given, a staged layer of other content is refused (and
        discarded); a chain already there keeps its layer and the staged one goes.
        """
        temp = staged.directory
        try:
            self._check_parent(parent_chain_id)
            if diff_id is not None and staged.diff_id != diff_id:
                raise errors.InvalidArgument(
                    f"layer {staged.name}: diff id mismatch: expected {diff_id},"
                    f" got {staged.diff_id}"
                )
            chain_id = self.chain_id(parent_chain_id, staged.diff_id)
            with self._lock_for(chain_id):
                if self.has_layer(chain_id):
                    return chain_id, staged.diff_id, self.layer(chain_id).size
                info = LayerInfo(chain_id, staged.diff_id, parent_chain_id, staged.size, new_link())
                atomicfile.write_json(temp / "layer.json", asdict(info), indent=1, sort_keys=True)
                os.rename(temp, self._layer_dir(chain_id))
                self._ensure_link(info)
                return chain_id, staged.diff_id, staged.size
        except OSError as exc:
            if errors.is_storage_error(exc):
                raise errors.storage_error(exc, temp) from None
            raise
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)

    def discard_layer(self, staged: StagedLayer) -> None:
        """Throw away a staged layer that will not be committed."""
        shutil.rmtree(staged.directory, ignore_errors=True)

    def _check_parent(self, parent_chain_id: str | None) -> None:
        if parent_chain_id is not None and not self.has_layer(parent_chain_id):
            raise errors.NotFound(f"parent layer does not exist: {parent_chain_id}")

    def remove_layer(self, chain_id: str) -> None:
        """Delete a layer; refused while a layer or a container snapshot sits on it."""
        info = self.layer(chain_id)
        for other in self.layers():
            if other != chain_id and self.layer(other).parent == chain_id:
                raise errors.Conflict(f"layer {chain_id} is the parent of layer {other}")
        for key in self.snapshot_keys():
            if chain_id in self._chain(self.snapshot_parent(key)):
                raise errors.Conflict(f"layer {chain_id} is in use by snapshot {key}")
        with self._lock_for(chain_id):
            doomed = self._layers / f"{DOOMED_PREFIX}{uuid.uuid4().hex}"
            # Renamed first, so a crash never leaves a half-deleted layer visible.
            with self._guard:
                os.rename(self._layer_dir(chain_id), doomed)
                self._infos.pop(chain_id, None)
            (self._links / info.link).unlink(missing_ok=True)
            shutil.rmtree(doomed, ignore_errors=True)

    # -- container snapshots -------------------------------------------------

    def prepare(self, key: str, chain_id: str | None) -> list[Mount]:
        """Make a writable snapshot on a chain (again: a no-op) and describe how to mount it."""
        directory = self._containers / valid_key(key)
        upper, work = directory / "upper", directory / "work"
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(exist_ok=True)
        record = directory / "snapshot.json"
        if not record.exists() or self.snapshot_parent(key) != chain_id:
            atomicfile.write_json(
                directory / "snapshot.json", {"parent": chain_id}, indent=1, sort_keys=True
            )
        return self._describe(directory, chain_id)

    def mounts(self, key: str) -> list[Mount]:
        """How to mount an existing snapshot, changing nothing; NotFound if there is none."""
        parent = self.snapshot_parent(key)
        return self._describe(self._containers / valid_key(key), parent)

    def layer_dirs(self, chain_id: str | None) -> list[Path]:
        """The unpacked layers of a chain, top first."""
        return [self.layer_path(c) for c in self._chain(chain_id)]

    def _describe(self, directory: Path, chain_id: str | None) -> list[Mount]:
        lowers = self._chain(chain_id)
        upper, work = directory / "upper", directory / "work"
        if not lowers:
            return [Mount(type="bind", source=str(upper), destination="/", options=["rbind", "rw"])]
        for chain_id_ in lowers:
            self._ensure_link(self.layer(chain_id_))
        lowerdir = ":".join(str(self._links / self.layer(c).link) for c in lowers)
        options = [f"lowerdir={lowerdir}", f"upperdir={upper}", f"workdir={work}"]
        joined = ",".join(options)
        if len(joined) > MAX_MOUNT_OPTIONS:
            raise errors.InvalidArgument(f"max depth exceeded: {len(lowers)} layers")
        if any(c in str(self.root) for c in ",:"):
            raise errors.InvalidArgument(f"snapshot root {self.root} holds ',' or ':'")
        return [Mount(type="overlay", source="overlay", destination="/", options=options)]

    def remove(self, key: str) -> None:
        directory = self._containers / valid_key(key)
        if not directory.exists():
            raise errors.NotFound(f"snapshot does not exist: {key}")
        doomed = self._containers / f"{DOOMED_PREFIX}{uuid.uuid4().hex}"
        os.rename(directory, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def diff(self, key: str, out: BinaryIO) -> None:
        """Write a snapshot's changes (its upper dir) to `out` as an uncompressed layer tar,
        whiteouts in the tar's `.wh.` form: for `docker commit` and build steps.
        The container should be paused or stopped, as dockerd pauses it to commit."""
        upper = self._containers / valid_key(key) / "upper"
        if not upper.is_dir():
            raise errors.NotFound(f"snapshot does not exist: {key}")
        from ketch.snapshots.export import write_layer_tar

        write_layer_tar(upper, out)

    def snapshot_keys(self) -> list[str]:
        return sorted(
            entry.name for entry in self._containers.iterdir() if not entry.name.startswith(".")
        )

    def snapshot_path(self, key: str) -> Path:
        """The snapshot's directory (its `upper` and `work`), for inspect's GraphDriver."""
        return self._containers / valid_key(key)

    def snapshot_parent(self, key: str) -> str | None:
        path = self._containers / valid_key(key) / "snapshot.json"
        try:
            parent: str | None = json.loads(path.read_text())["parent"]
        except FileNotFoundError:
            raise errors.NotFound(f"snapshot does not exist: {key}") from None
        return parent

    # -- internals -----------------------------------------------------------

    def _unpack(self, blob: Blob, name: str, dest: Path) -> tuple[str, int]:
        from ketch.snapshots.decompress import HashingReader, compression_of, open_uncompressed
        from ketch.snapshots.unpack import LayerUnpacker

        try:
            kind = compression_of(blob.read(4))
            blob.seek(0)
            reader = HashingReader(open_uncompressed(blob, kind))
            unpacker = LayerUnpacker(dest)
            try:
                unpacker.unpack(reader)
            finally:
                unpacker.close()
            reader.drain()
        except errors.KetchError:
            raise
        except OSError as exc:
            if errors.is_storage_error(exc):  # the disk failed, not the layer
                raise errors.storage_error(exc, dest) from None
            raise errors.InvalidArgument(f"invalid layer {name}: {exc}") from exc
        except Exception as exc:  # EOFError, ValueError, the decompressors' own (zstd)
            raise errors.InvalidArgument(f"invalid layer {name}: {exc}") from exc
        return reader.digest(), unpacker.size

    def _chain(self, chain_id: str | None) -> list[str]:
        """The chain from the top layer down to the bottom one."""
        found: list[str] = []
        while chain_id is not None:
            found.append(chain_id)
            chain_id = self.layer(chain_id).parent
        return found

    def _layer_dir(self, chain_id: str) -> Path:
        return self._layers / hex_of(chain_id)

    def _ensure_link(self, info: LayerInfo) -> None:
        link = self._links / info.link
        if not link.is_symlink():
            target = Path("..") / "layers" / hex_of(info.chain_id) / "diff"
            temp = self._links / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
            os.symlink(target, temp)
            os.rename(temp, link)

    def _lock_for(self, chain_id: str) -> threading.Lock:
        with self._guard:
            return self._chain_locks.setdefault(chain_id, threading.Lock())

    def _discard_leftovers(self) -> None:
        """Remove half-unpacked layers and half-deleted trees from a crash."""
        for directory in (self._layers, self._links, self._containers):
            for entry in directory.iterdir():
                if entry.name.startswith((TEMP_PREFIX, DOOMED_PREFIX)):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)


def new_link() -> str:
    return "".join(secrets.choice(LINK_ALPHABET) for _ in range(LINK_LENGTH))
