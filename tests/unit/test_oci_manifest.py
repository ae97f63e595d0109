import json

import pytest

from ketch import errors
from ketch.oci import manifest, mediatypes
from ketch.oci.digest import sha256_digest
from ketch.testing import manifests

CFG = {"mediaType": mediatypes.OCI_CONFIG, "digest": "sha256:" + "1" * 64, "size": 10}
LAYER = {"mediaType": mediatypes.OCI_LAYER_GZIP, "digest": "sha256:" + "2" * 64, "size": 20}


def doc(**fields) -> bytes:
    base = {"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST, "config": CFG,
            "layers": [LAYER]}  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def test_oci_manifest():
    raw = doc()
    m = manifest.parse(raw)
    assert isinstance(m, manifest.Manifest)
    assert m.digest == sha256_digest(raw)
    assert m.media_type == mediatypes.OCI_MANIFEST
    assert m.config.digest == CFG["digest"] and m.config.size == 10
    assert [layer.digest for layer in m.layers] == [LAYER["digest"]]
    assert m.raw == raw and m.index_digest is None


def test_docker_schema2_manifest():
    raw = doc(mediaType=mediatypes.DOCKER_MANIFEST,
              config=dict(CFG, mediaType=mediatypes.DOCKER_CONFIG),
              layers=[dict(LAYER, mediaType=mediatypes.DOCKER_LAYER_GZIP)])  # fmt: skip
    m = manifest.parse_manifest(raw, "application/vnd.docker.distribution.manifest.v2+json")
    assert m.media_type == mediatypes.DOCKER_MANIFEST
    assert m.layers[0].media_type == mediatypes.DOCKER_LAYER_GZIP


def test_oci_manifest_without_media_type_uses_header_then_shape():
    raw = doc(mediaType=None)
    assert manifest.parse(raw).media_type == mediatypes.OCI_MANIFEST
    assert manifest.parse(raw, mediatypes.OCI_MANIFEST).media_type == mediatypes.OCI_MANIFEST


@pytest.mark.parametrize("media_type", [mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST])
def test_index(media_type):
    entries = [
        dict(LAYER, mediaType=mediatypes.OCI_MANIFEST,
             platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
        dict(LAYER, mediaType=mediatypes.OCI_MANIFEST, digest="sha256:" + "3" * 64,
             platform={"os": "linux", "architecture": "amd64"}, annotations={"a": "b"}),
    ]  # fmt: skip
    raw = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}).encode()
    index = manifest.parse_index(raw)
    assert index.media_type == media_type
    assert [m.platform["architecture"] for m in index.manifests] == ["arm64", "amd64"]
    assert index.manifests[1].annotations == {"a": "b"}
    with pytest.raises(errors.InvalidArgument):
        manifest.parse_manifest(raw)


BAD_DESCRIPTORS = [
    {"digest": "sha256:" + "1" * 64, "size": 1},
    {"mediaType": "x", "digest": "sha256:short", "size": 1},
    {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": -1},
    {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": "1"},
    {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": True},
    {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": 1, "urls": "http://x"},
    {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": 1, "annotations": {"a": 1}},
    "not an object",
]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b"\xff\xfe",
        doc(schemaVersion=3),
        doc(schemaVersion=None),
        doc(config=None),
        doc(layers=None),
        doc(layers="x"),
        doc(mediaType="application/vnd.example+json"),
        doc(mediaType=7),
        json.dumps({"schemaVersion": 2}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX,
                    "manifests": [dict(LAYER, platform={"os": "linux"})]}).encode(),
        b" " * (manifest.MAX_MANIFEST_SIZE + 1),
    ]
    + [doc(config=bad) for bad in BAD_DESCRIPTORS]
    + [doc(layers=[LAYER, bad]) for bad in BAD_DESCRIPTORS],
)  # fmt: skip
def test_malformed_refused(raw):
    with pytest.raises(errors.InvalidArgument):
        manifest.parse(raw)


def test_schema1_refused_with_docker_words():
    with pytest.raises(errors.InvalidArgument, match="schema 1 is no longer supported"):
        manifest.parse(json.dumps({"schemaVersion": 1, "name": "x"}).encode())


def test_content_type_contradicting_document_refused():
    with pytest.raises(errors.InvalidArgument):
        manifest.parse(doc(), mediatypes.DOCKER_MANIFEST_LIST)


def test_build_round_trip():
    cfg = manifest.parse_descriptor(CFG)
    layer = manifest.parse_descriptor(LAYER)
    raw = manifests.build_manifest(cfg, [layer], mediatypes.DOCKER_MANIFEST)
    back = manifest.parse_manifest(raw)
    assert back.config == cfg and back.layers == [layer]
    plat = {"os": "linux", "architecture": "amd64"}
    entry = manifest.Descriptor(mediatypes.DOCKER_MANIFEST, back.digest, len(raw), platform=plat)
    index = manifest.parse_index(manifests.build_index([entry]))
    assert index.manifests == [entry]


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        (mediatypes.OCI_LAYER_TAR, "none"),
        (mediatypes.OCI_LAYER_GZIP, "gzip"),
        (mediatypes.DOCKER_LAYER_GZIP, "gzip"),
        (mediatypes.DOCKER_LAYER_FOREIGN_GZIP, "gzip"),
        (mediatypes.OCI_LAYER_ZSTD, "zstd"),
        (mediatypes.OCI_LAYER_NONDIST_ZSTD, "zstd"),
    ],
)
def test_layer_compression(media_type, compression):
    assert mediatypes.layer_compression(media_type) == compression


def test_layer_compression_refuses_non_layers():
    with pytest.raises(ValueError):
        mediatypes.layer_compression(mediatypes.OCI_CONFIG)
