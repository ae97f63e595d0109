"""Media types of Docker schema2 and OCI image-spec documents and blobs."""

from __future__ import annotations

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
# Schema 1 is refused, but named so the refusal can say what it saw.
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
# What a client sends in Accept when it asks a registry for a manifest.
ACCEPTED_MANIFESTS = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)

LAYERS_TAR = frozenset({OCI_LAYER_TAR, OCI_LAYER_NONDIST_TAR})
LAYERS_GZIP = frozenset(
    {DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN_GZIP, OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP}
)
LAYERS_ZSTD = frozenset({OCI_LAYER_ZSTD, OCI_LAYER_NONDIST_ZSTD})
LAYERS = LAYERS_TAR | LAYERS_GZIP | LAYERS_ZSTD


def layer_compression(media_type: str) -> str:
    """`"none"`, `"gzip"` or `"zstd"`; raises ValueError for a non-layer type."""
    if media_type in LAYERS_TAR:
        return "none"
    if media_type in LAYERS_GZIP:
        return "gzip"
    if media_type in LAYERS_ZSTD:
        return "zstd"
    raise ValueError(f"not a layer media type: {media_type}")
