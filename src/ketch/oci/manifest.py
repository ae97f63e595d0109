"""Docker schema2 and OCI image manifests and indexes, parsed and checked.

A manifest that does not have the shape the specs require is refused with
InvalidArgument before anything acts on it: a registry is not trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ketch import errors
from ketch.oci import digest as digests
from ketch.oci import mediatypes

# containerd refuses manifests above 4 MiB; nothing real comes close.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, Any] | None = None
    artifact_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    raw: bytes
    config: Descriptor
    layers: list[Descriptor]
    # The index (manifest list) this manifest was chosen from, when it was.
    index_digest: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Index:
    digest: str
    media_type: str
    raw: bytes
    manifests: list[Descriptor]
    annotations: dict[str, str] = field(default_factory=dict)


def _bad(why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid manifest: {why}")


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _bad(f"{what} must be an object of strings")
    return dict(value)


def parse_descriptor(value: Any, what: str = "descriptor") -> Descriptor:
    if not isinstance(value, dict):
        raise _bad(f"{what} must be an object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise _bad(f"{what} has no mediaType")
    try:
        digest = digests.validate(value.get("digest"))
    except errors.InvalidArgument as exc:
        raise _bad(f"{what} digest: {exc.message}") from None
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad(f"{what} size must be a non-negative integer")
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise _bad(f"{what} urls must be a list of strings")
    platform = value.get("platform")
    if platform is not None and (
        not isinstance(platform, dict)
        or not isinstance(platform.get("os"), str)
        or not isinstance(platform.get("architecture"), str)
    ):
        raise _bad(f"{what} platform needs os and architecture")
    artifact_type = value.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _bad(f"{what} artifactType must be a string")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        urls=list(urls),
        annotations=_string_map(value.get("annotations"), f"{what} annotations"),
        platform=dict(platform) if platform else None,
        artifact_type=artifact_type,
    )


def detect_media_type(doc: dict[str, Any], content_type: str | None = None) -> str:
    """The document's type: its own `mediaType`, else the HTTP Content-Type, else its shape."""
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _bad("mediaType must be a string")
    header = (content_type or "").split(";", 1)[0].strip()
    if declared and header in (mediatypes.MANIFESTS | mediatypes.INDEXES) and header != declared:
        raise _bad(f"mediaType {declared} does not match content type {header}")
    if declared:
        return declared
    if header in mediatypes.MANIFESTS | mediatypes.INDEXES:
        return header
    # OCI lets mediaType be absent; the shape then says which document it is.
    if "manifests" in doc and "layers" not in doc:
        return mediatypes.OCI_INDEX
    if "config" in doc and "layers" in doc:
        return mediatypes.OCI_MANIFEST
    raise _bad("unknown document type")


def parse(
    raw: bytes, content_type: str | None = None, digest: str | None = None
) -> Manifest | Index:
    """Parse a manifest or index; `digest` defaults to the sha256 of `raw`."""
    if len(raw) > MAX_MANIFEST_SIZE:
        raise _bad(f"larger than {MAX_MANIFEST_SIZE} bytes")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _bad("not a JSON object")
    schema_version = doc.get("schemaVersion")
    if schema_version == 1:
        raise errors.InvalidArgument(
            "unsupported manifest format: Docker Image manifest version 2, schema 1 "
            "is no longer supported"
        )
    if schema_version != 2:
        raise _bad(f"schemaVersion must be 2, not {schema_version!r}")
    media_type = detect_media_type(doc, content_type)
    digest = digest or digests.sha256_digest(raw)
    annotations = _string_map(doc.get("annotations"), "annotations")
    if media_type in mediatypes.INDEXES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise _bad("index has no manifests list")
        manifests = [parse_descriptor(m, f"manifests[{i}]") for i, m in enumerate(items)]
        return Index(digest, media_type, raw, manifests, annotations)
    if media_type in mediatypes.MANIFESTS:
        config = parse_descriptor(doc.get("config"), "config")
        items = doc.get("layers")
        if not isinstance(items, list):
            raise _bad("manifest has no layers list")
        layers = [parse_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(items)]
        return Manifest(digest, media_type, raw, config, layers, None, annotations)
    raise _bad(f"unsupported media type {media_type}")


def parse_manifest(
    raw: bytes, content_type: str | None = None, digest: str | None = None
) -> Manifest:
    parsed = parse(raw, content_type, digest)
    if not isinstance(parsed, Manifest):
        raise _bad(f"expected an image manifest, got {parsed.media_type}")
    return parsed


def parse_index(raw: bytes, content_type: str | None = None, digest: str | None = None) -> Index:
    parsed = parse(raw, content_type, digest)
    if not isinstance(parsed, Index):
        raise _bad(f"expected an index, got {parsed.media_type}")
    return parsed
