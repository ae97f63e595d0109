"""Push an image's tags to their registry, with dockerd's progress messages.

The blobs pushed are the ones pulled (the content store keeps compressed
layers), so the manifest pushed is byte for byte the one pulled and the
digest a registry reports is the same everywhere.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from ketch import errors
from ketch.images import progress as messages
from ketch.images.needs import Blobs, Registry
from ketch.images.progress import Progress
from ketch.images.records import ImageRecord
from ketch.oci import mediatypes
from ketch.oci.manifest import Descriptor
from ketch.oci.reference import Reference
from ketch.registry import Auth

# dockerd's default max-concurrent-uploads.
MAX_CONCURRENT_UPLOADS = 5


def manifest_for(record: ImageRecord, content: Blobs) -> tuple[bytes, str]:
    """The manifest to push: the pulled one when kept, else schema2 built from the blobs."""
    missing = [layer["digest"] for layer in record.layers if not content.has(layer["digest"])]
    if missing:
        # A layer unpacked from another image's blob: this image's own blob was never fetched.
        raise errors.NotImplementedYet(
            f"pushing image {record.id}: layer blob {missing[0]} is not stored locally"
        )
    if record.manifest_digest and content.has(record.manifest_digest):
        raw = content.read_bytes(record.manifest_digest)
        media_type = record.manifest_media_type or mediatypes.DOCKER_MANIFEST
        return raw, media_type
    if len(record.layers) != len(record.diff_ids):
        raise errors.NotImplementedYet(
            f"pushing image {record.id}: its compressed layers are not stored"
        )
    config = content.read_bytes(record.id)
    # Loaded layers carry OCI media types; a manifest must not mix the two families.
    oci = any(layer["mediaType"].startswith("application/vnd.oci.") for layer in record.layers)
    media_type = mediatypes.OCI_MANIFEST if oci else mediatypes.DOCKER_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": mediatypes.OCI_CONFIG if oci else mediatypes.DOCKER_CONFIG,
            "size": len(config),
            "digest": record.id,
        },
        "layers": record.layers,
    }
    return json.dumps(manifest, indent=3).encode(), media_type


async def push_tag(
    client: Registry,
    content: Blobs,
    record: ImageRecord,
    ref: Reference,
    emit: Progress,
    auth: Auth = None,
    mount_from: Sequence[str] = (),
) -> tuple[str, int]:
    """Push one tag's blobs and manifest; returns (manifest digest, manifest size).

    `mount_from`: repositories of the same registry the image came from; a blob is
    mounted from there rather than uploaded when the registry allows it."""
    raw, media_type = manifest_for(record, content)
    layers = [
        Descriptor(layer["mediaType"], layer["digest"], layer["size"]) for layer in record.layers
    ]
    # dockerd lists layers top first, each by its DiffID.
    shown = {
        layer.digest: messages.short_id(diff_id)
        for layer, diff_id in zip(layers, record.diff_ids, strict=False)
    }
    ordered = list(reversed(layers))
    for layer in ordered:
        emit(messages.status("Preparing", shown[layer.digest]))
    for layer in ordered[MAX_CONCURRENT_UPLOADS:]:
        emit(messages.status("Waiting", shown[layer.digest]))
    slots = asyncio.Semaphore(MAX_CONCURRENT_UPLOADS)

    async def upload(layer: Descriptor) -> None:
        mounted: list[str] = []
        async with slots:
            emit(messages.moving("Pushing", shown[layer.digest], 0, layer.size))
            await client.push_blob(ref, content.path(layer.digest), layer.digest, auth=auth,
                                   mount_from=mount_from, on_mount=mounted.append)  # fmt: skip
        if mounted:
            emit(messages.status(f"Mounted from {mounted[0]}", shown[layer.digest]))
        else:
            emit(messages.status("Pushed", shown[layer.digest]))

    await asyncio.gather(*(upload(layer) for layer in ordered))
    await client.push_blob(ref, content.read_bytes(record.id), record.id, auth=auth,
                           mount_from=mount_from)  # fmt: skip
    digest = await client.push_manifest(ref, raw, media_type, auth=auth)
    emit({"status": f"{ref.tag}: digest: {digest} size: {len(raw)}"})
    emit({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": digest, "Size": len(raw)}})
    return digest, len(raw)
