"""Manifests and indexes built from descriptors, for tests that hand a registry or the
parser documents of their own (ketch itself only reads them, and pushes what it pulled)."""

from __future__ import annotations

import json
from typing import Any

from ketch.oci import mediatypes
from ketch.oci.manifest import Descriptor


def build_manifest(
    config: Descriptor, layers: list[Descriptor], media_type: str = mediatypes.OCI_MANIFEST
) -> bytes:
    """Serialise an image manifest in the spec's field order."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    doc["config"] = config.to_dict()
    doc["layers"] = [layer.to_dict() for layer in layers]
    return json.dumps(doc, indent=3).encode()


def build_index(manifests: list[Descriptor], media_type: str = mediatypes.OCI_INDEX) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [m.to_dict() for m in manifests],
    }
    return json.dumps(doc, indent=3).encode()
