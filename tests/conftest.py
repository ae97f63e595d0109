"""Fixtures for every test: the specifications in tests/data that ketch is checked against."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4

DATA = Path(__file__).resolve().parent / "data"
OCI_RUNTIME_SPEC = DATA / "oci-runtime-spec-v1.2.1"
OCI_IMAGE_SPEC = DATA / "oci-image-spec-v1.1.1"


def oci_validator(schema_dir: Path, root: str) -> jsonschema.Draft4Validator:
    """A validator for one OCI schema file, its `$ref`s resolved among its siblings.

    The schemas are draft-04; a `$ref` names a sibling file ("defs.json#/..."), but
    resolved against the `id`s some of them carry it becomes a URL of the spec's web
    site. Like the specs' own loaders, any reference is looked up by its file name."""

    def retrieve(uri: str) -> Resource:
        path = schema_dir / uri.rsplit("/", 1)[-1]
        if not path.is_file():
            raise NoSuchResource(ref=uri)
        return Resource.from_contents(json.loads(path.read_text()), DRAFT4)

    schema = json.loads((schema_dir / root).read_text())
    schema.setdefault("id", (schema_dir / root).as_uri())
    return jsonschema.Draft4Validator(schema, registry=Registry(retrieve=retrieve))


@pytest.fixture(scope="session")
def runtime_spec_validator() -> jsonschema.Draft4Validator:
    """The OCI runtime-spec's config.json schema."""
    return oci_validator(OCI_RUNTIME_SPEC, "config-schema.json")


@pytest.fixture(scope="session")
def image_spec_validator() -> Callable[[str], jsonschema.Draft4Validator]:
    """The OCI image-spec's schemas by file name: image-manifest-schema.json, ..."""
    return lambda root: oci_validator(OCI_IMAGE_SPEC, root)
