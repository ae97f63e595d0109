"""`docker save` / `docker load` archives: Docker's manifest.json and OCI image layout.

What `save` writes is what dockerd 25+ writes: an OCI image layout (index.json,
oci-layout, blobs/sha256/...) that is also a docker-archive (manifest.json,
repositories), layers as uncompressed tars named by their DiffID. `load`
reads either form. Both run in a worker thread: they only touch files.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ketch import errors
from ketch.images.needs import Blobs
from ketch.oci import mediatypes
from ketch.oci.digest import sha256_digest
from ketch.oci.reference import Reference
from ketch.snapshots.decompress import compression_of, open_uncompressed

COPY_CHUNK = 1 << 20
IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
LAYER_TYPE_BY_COMPRESSION = {
    "none": mediatypes.OCI_LAYER_TAR,
    "gzip": mediatypes.OCI_LAYER_GZIP,
    "zstd": mediatypes.OCI_LAYER_ZSTD,
}


@dataclass
class ArchiveImage:
    """An image found in an archive, its blobs already in the content store."""

    config_digest: str
    diff_ids: list[str]
    layers: list[dict[str, Any]]  # descriptors of the stored layer blobs
    repo_tags: list[str] = field(default_factory=list)
    manifest_digest: str | None = None
    manifest_media_type: str | None = None


@dataclass
class SavedImage:
    """What `write_archive` needs of one image."""

    id: str
    diff_ids: list[str]
    layers: list[dict[str, Any]]
    refs: list[Reference]  # the tags to record for it


def bad_archive(why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid archive: {why}")


# -- load ----------------------------------------------------------------------


class ArchiveReader:
    def __init__(self, tar: tarfile.TarFile, content: Blobs) -> None:
        self.tar = tar
        self.content = content
        # Links too: docker save before v25 writes a layer two images share once and a
        # symlink to it (`<id>/layer.tar -> ../<other>/layer.tar`); extractfile follows them.
        self.members = {
            m.name.removeprefix("./"): m
            for m in tar.getmembers()
            if m.isfile() or m.issym() or m.islnk()
        }

    def read_bytes(self, name: str, limit: int = 64 << 20) -> bytes:
        member = self.members.get(name.removeprefix("./"))
        if member is None:
            raise bad_archive(f"{name} is missing")
        extracted = self.tar.extractfile(member)
        if extracted is None:
            raise bad_archive(f"{name} is missing")
        data = extracted.read(limit + 1)  # a link's own size is 0: count what it reads
        if len(data) > limit:
            raise bad_archive(f"{name} is too large")
        return data

    def store(self, name: str) -> tuple[str, int, str]:
        """Copy a member into the content store: (digest, size, compression)."""
        member = self.members.get(name.removeprefix("./"))
        if member is None:
            raise bad_archive(f"{name} is missing")
        hasher = hashlib.sha256()
        head = b""
        size = 0
        source = self.tar.extractfile(member)
        if source is None:
            raise bad_archive(f"{name} is missing")
        while chunk := source.read(COPY_CHUNK):
            head = head or chunk[:4]
            hasher.update(chunk)
            size += len(chunk)
        digest = f"sha256:{hasher.hexdigest()}"
        if not self.content.has(digest):
            source = self.tar.extractfile(member)
            assert source is not None
            writer = self.content.writer(digest, size)
            try:
                writer.reset()
                while chunk := source.read(COPY_CHUNK):
                    writer.write(chunk)
                writer.commit()
            finally:
                writer.close()
        return digest, size, compression_of(head)


def read_archive(archive: Path, content: Blobs) -> list[ArchiveImage]:
    """Put an archive's blobs in the content store and list its images."""
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            reader = ArchiveReader(tar, content)
            if "manifest.json" in reader.members:
                return read_docker_archive(reader)
            if "index.json" in reader.members:
                return read_oci_layout(reader)
    except tarfile.TarError as exc:
        raise bad_archive(str(exc)) from None
    raise bad_archive("neither manifest.json nor index.json found")


def json_of(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_archive(f"{what}: {exc}") from None


def diff_ids_of(config: Any, layer_count: int) -> list[str]:
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != layer_count:
        raise bad_archive("the config's rootfs.diff_ids do not match the layers")
    return diff_ids


def read_docker_archive(reader: ArchiveReader) -> list[ArchiveImage]:
    entries = json_of(reader.read_bytes("manifest.json"), "manifest.json")
    if not isinstance(entries, list):
        raise bad_archive("manifest.json is not a list")
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise bad_archive("manifest.json entry without Config")
        raw_config = reader.read_bytes(entry["Config"])
        config_digest = reader.content.put_bytes(raw_config)
        layer_names = entry.get("Layers") or []
        diff_ids = diff_ids_of(json_of(raw_config, "config"), len(layer_names))
        layers = []
        for name in layer_names:
            digest, size, compression = reader.store(name)
            layers.append(
                {
                    "mediaType": LAYER_TYPE_BY_COMPRESSION[compression],
                    "digest": digest,
                    "size": size,
                }
            )
        found.append(
            ArchiveImage(config_digest, diff_ids, layers, list(entry.get("RepoTags") or []))
        )
    return found


def read_oci_layout(reader: ArchiveReader) -> list[ArchiveImage]:
    index = json_of(reader.read_bytes("index.json"), "index.json")
    found: list[ArchiveImage] = []
    for descriptor in index.get("manifests") or []:
        found.extend(read_oci_descriptor(reader, descriptor, depth=0))
    return found


def blob_name(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"blobs/{algorithm}/{hex_part}"


def read_oci_descriptor(
    reader: ArchiveReader, descriptor: dict[str, Any], depth: int
) -> list[ArchiveImage]:
    if depth > 2:
        raise bad_archive("indexes nested too deep")
    media_type = descriptor.get("mediaType")
    raw = reader.read_bytes(blob_name(descriptor["digest"]))
    if sha256_digest(raw) != descriptor["digest"]:
        raise bad_archive(f"blob {descriptor['digest']} does not match its digest")
    if media_type in mediatypes.INDEXES:
        nested = json_of(raw, "index")
        images = []
        for child in nested.get("manifests") or []:
            images.extend(read_oci_descriptor(reader, child, depth + 1))
        return images
    if media_type not in mediatypes.MANIFESTS:
        return []  # attestations and other artifacts are not images
    manifest = json_of(raw, "manifest")
    config_desc = manifest.get("config") or {}
    raw_config = reader.read_bytes(blob_name(config_desc.get("digest", "")))
    config_digest = reader.content.put_bytes(raw_config)
    layers = []
    for layer in manifest.get("layers") or []:
        digest, size, _ = reader.store(blob_name(layer["digest"]))
        if digest != layer["digest"]:
            raise bad_archive(f"layer {layer['digest']} does not match its digest")
        layers.append({"mediaType": layer["mediaType"], "digest": digest, "size": size})
    diff_ids = diff_ids_of(json_of(raw_config, "config"), len(layers))
    annotations = descriptor.get("annotations") or {}
    name = annotations.get(IMAGE_NAME_ANNOTATION)
    tags = [name] if name else []
    manifest_digest = reader.content.put_bytes(raw)
    return [ArchiveImage(config_digest, diff_ids, layers, tags, manifest_digest, str(media_type))]


def store_file(content: Blobs, path: Path) -> tuple[str, int, str]:
    """Copy a layer file into the content store: (digest, size, OCI layer media type)."""
    hasher = hashlib.sha256()
    head = b""
    with open(path, "rb") as source:
        while chunk := source.read(COPY_CHUNK):
            head = head or chunk[:4]
            hasher.update(chunk)
        size = source.tell()
        digest = f"sha256:{hasher.hexdigest()}"
        if not content.has(digest):
            source.seek(0)
            writer = content.writer(digest, size)
            try:
                writer.reset()
                while chunk := source.read(COPY_CHUNK):
                    writer.write(chunk)
                writer.commit()
            finally:
                writer.close()
    return digest, size, LAYER_TYPE_BY_COMPRESSION[compression_of(head)]


# -- save ----------------------------------------------------------------------


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def add_directory(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def uncompressed_layer(content: Blobs, layer: dict[str, Any], diff_id: str) -> BinaryIO:
    """The layer as an uncompressed tar in a temporary file, checked against its DiffID."""
    if not content.has(layer["digest"]):
        raise errors.NotImplementedYet(f"layer blob {layer['digest']} is not stored locally")
    spool = tempfile.TemporaryFile()
    hasher = hashlib.sha256()
    with open(content.path(layer["digest"]), "rb") as blob:
        reader = open_uncompressed(blob)
        while chunk := reader.read(COPY_CHUNK):
            hasher.update(chunk)
            spool.write(chunk)
    if f"sha256:{hasher.hexdigest()}" != diff_id:
        spool.close()
        raise errors.InvalidArgument(f"stored layer {layer['digest']} does not match {diff_id}")
    spool.seek(0)
    return spool


def write_archive(out: BinaryIO, images: list[SavedImage], content: Blobs) -> None:
    """Write `images` as one tar stream to `out` (which need not be seekable)."""
    written: set[str] = set()
    docker_manifest: list[dict[str, Any]] = []
    index_entries: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        add_directory(tar, "blobs")
        add_directory(tar, "blobs/sha256")

        def add_blob(digest: str, data: bytes) -> None:
            if digest not in written:
                add_bytes(tar, blob_name(digest), data)
                written.add(digest)

        for image in images:
            config = content.read_bytes(image.id)
            add_blob(image.id, config)
            layer_descriptors = []
            for layer, diff_id in zip(image.layers, image.diff_ids, strict=True):
                spool = uncompressed_layer(content, layer, diff_id)
                with spool:
                    size = spool.seek(0, 2)
                    spool.seek(0)
                    if diff_id not in written:
                        info = tarfile.TarInfo(blob_name(diff_id))
                        info.size = size
                        info.mode = 0o644
                        tar.addfile(info, spool)
                        written.add(diff_id)
                layer_descriptors.append(
                    {"mediaType": mediatypes.OCI_LAYER_TAR, "digest": diff_id, "size": size}
                )
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": mediatypes.OCI_MANIFEST,
                    "config": {
                        "mediaType": mediatypes.OCI_CONFIG,
                        "digest": image.id,
                        "size": len(config),
                    },
                    "layers": layer_descriptors,
                }
            ).encode()
            manifest_digest = sha256_digest(manifest)
            add_blob(manifest_digest, manifest)
            descriptor = {
                "mediaType": mediatypes.OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest),
            }
            # An image saved by ID alone still gets its one index entry.
            named: list[Reference | None] = [*image.refs] or [None]
            for ref in named:
                entry = dict(descriptor)
                if ref is not None:
                    entry["annotations"] = {
                        IMAGE_NAME_ANNOTATION: str(ref),
                        REF_NAME_ANNOTATION: ref.tag or "",
                    }
                    repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = (
                        image.id.split(":", 1)[1]
                    )
                index_entries.append(entry)
            docker_manifest.append(
                {
                    "Config": blob_name(image.id),
                    "RepoTags": [ref.familiar() for ref in image.refs] or None,
                    "Layers": [blob_name(d) for d in image.diff_ids],
                }
            )
        index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": index_entries}
        add_bytes(tar, "index.json", json.dumps(index).encode())
        add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode())
        add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        if repositories:
            add_bytes(tar, "repositories", json.dumps(repositories).encode())
