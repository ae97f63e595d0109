"""Dropping a pull's partial downloads gives space back, but never under a live writer."""

from __future__ import annotations

import os

from ketch.content import ContentStore
from ketch.oci.digest import sha256_digest


def test_drop_removes_a_partial_nobody_writes(tmp_path) -> None:
    store = ContentStore(tmp_path)
    data = os.urandom(1000)
    digest = sha256_digest(data)
    ingest = store.writer(digest, len(data))
    ingest.write(data[:400])
    ingest.close()  # kept for a resume
    assert store.ingest_offset(digest) == 400
    assert store.drop_ingest(digest) is True
    assert store.ingest_offset(digest) == 0
    assert store.drop_ingest(digest) is False  # nothing left to drop


def test_drop_leaves_a_partial_being_written(tmp_path) -> None:
    store = ContentStore(tmp_path)
    data = os.urandom(1000)
    digest = sha256_digest(data)
    ingest = store.writer(digest, len(data))
    ingest.write(data[:400])
    assert store.drop_ingest(digest) is False
    ingest.write(data[400:])
    assert ingest.commit() == digest
    assert store.read_bytes(digest) == data
