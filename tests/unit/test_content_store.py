import os
import stat

import pytest

from ketch import errors
from ketch.content import ContentStore
from ketch.oci.digest import sha256_digest

DATA = b"hello, content store\n" * 1000
DIGEST = sha256_digest(DATA)


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "content")


def test_put_and_read(store):
    assert not store.has(DIGEST)
    assert store.put_bytes(DATA) == DIGEST
    assert store.has(DIGEST)
    assert store.read_bytes(DIGEST) == DATA
    assert store.size(DIGEST) == len(DATA)
    assert store.path(DIGEST) == store.root / "blobs" / "sha256" / DIGEST[7:]
    assert list(store.digests()) == [DIGEST]
    # committed blobs are read-only: nothing should rewrite content in place
    assert not store.path(DIGEST).stat().st_mode & stat.S_IWUSR


def test_put_bytes_checks_given_digest(store):
    with pytest.raises(errors.InvalidArgument, match="digest mismatch"):
        store.put_bytes(DATA, sha256_digest(b"other"))
    assert list(store.digests()) == []
    assert list((store.root / "ingest").iterdir()) == []


def test_writer_streams_and_commits(store):
    with store.writer(DIGEST, len(DATA)) as ingest:
        assert ingest.offset == 0
        for i in range(0, len(DATA), 4096):
            ingest.write(DATA[i : i + 4096])
        assert ingest.commit() == DIGEST
    assert store.read_bytes(DIGEST) == DATA
    assert list((store.root / "ingest").iterdir()) == []


def test_resume_recomputes_hash(store):
    half = len(DATA) // 2
    ingest = store.writer(DIGEST, len(DATA))
    ingest.write(DATA[:half])
    ingest.close()
    assert not store.has(DIGEST)
    assert store.ingest_offset(DIGEST) == half
    resumed = store.writer(DIGEST, len(DATA))
    assert resumed.offset == half
    resumed.write(DATA[half:])
    assert resumed.commit() == DIGEST
    assert store.read_bytes(DIGEST) == DATA


def test_resume_of_corrupted_partial_fails_and_removes_it(store):
    half = len(DATA) // 2
    ingest = store.writer(DIGEST, len(DATA))
    ingest.write(DATA[:half])
    ingest.close()
    # the partial's earlier bytes are rehashed, so damage to them is caught
    partial = store.root / "ingest" / DIGEST[7:]
    with open(partial, "r+b") as f:
        f.write(b"X")
    resumed = store.writer(DIGEST, len(DATA))
    resumed.write(DATA[half:])
    with pytest.raises(errors.InvalidArgument) as exc:
        resumed.commit()
    assert DIGEST in exc.value.message and "sha256:" in exc.value.message.replace(DIGEST, "")
    assert not partial.exists() and not store.has(DIGEST)


def test_digest_mismatch_names_both_and_removes_partial(store):
    wrong = b"x" * len(DATA)
    ingest = store.writer(DIGEST, len(DATA))
    ingest.write(wrong)
    with pytest.raises(errors.InvalidArgument) as exc:
        ingest.commit()
    assert f"expected {DIGEST}, got {sha256_digest(wrong)}" in exc.value.message
    assert not store.has(DIGEST)
    assert store.ingest_offset(DIGEST) == 0


def test_size_mismatch(store):
    ingest = store.writer(DIGEST, len(DATA))
    ingest.write(DATA[:-1])
    with pytest.raises(errors.InvalidArgument, match="size mismatch"):
        ingest.commit()
    assert store.ingest_offset(DIGEST) == 0
    ingest = store.writer(DIGEST, len(DATA) - 1)
    with pytest.raises(errors.InvalidArgument, match="larger than expected"):
        ingest.write(DATA)
    assert store.ingest_offset(DIGEST) == 0 and not store.has(DIGEST)


def test_unknown_size_is_verified_by_digest(store):
    ingest = store.writer(DIGEST)
    ingest.write(DATA)
    assert ingest.commit() == DIGEST


def test_partial_longer_than_blob_restarts(store):
    partial = store.root / "ingest" / DIGEST[7:]
    partial.write_bytes(DATA + b"junk")
    ingest = store.writer(DIGEST, len(DATA))
    assert ingest.offset == 0
    ingest.write(DATA)
    assert ingest.commit() == DIGEST


def test_reset_discards_partial(store):
    ingest = store.writer(DIGEST, len(DATA))
    ingest.write(b"garbage")
    ingest.reset()
    assert ingest.offset == 0
    ingest.write(DATA)
    assert ingest.commit() == DIGEST


def test_abort(store):
    ingest = store.writer(DIGEST, len(DATA))
    ingest.write(DATA[:10])
    ingest.abort()
    assert store.ingest_offset(DIGEST) == 0 and not store.has(DIGEST)


def test_second_writer_of_same_blob_conflicts(store):
    first = store.writer(DIGEST, len(DATA))
    with pytest.raises(errors.Conflict):
        store.writer(DIGEST, len(DATA))
    first.close()
    store.writer(DIGEST, len(DATA)).close()


def test_delete_and_missing(store):
    store.put_bytes(DATA)
    store.delete(DIGEST)
    assert not store.has(DIGEST)
    for call in (store.delete, store.read_bytes, store.size):
        with pytest.raises(errors.NotFound):
            call(DIGEST)


def test_bad_digest_never_becomes_a_path(store):
    for bad in ("sha256:../../etc", "../x", "sha256:" + "A" * 64):
        with pytest.raises(errors.InvalidArgument):
            store.path(bad)
        with pytest.raises(errors.InvalidArgument):
            store.writer(bad)


def test_stray_files_are_not_listed(store):
    store.put_bytes(DATA)
    (store.root / "blobs" / "sha256" / "notahash").write_bytes(b"")
    assert list(store.digests()) == [DIGEST]


def test_partial_is_private(store):
    ingest = store.writer(DIGEST, len(DATA))
    mode = os.stat(ingest.partial_path).st_mode
    ingest.abort()
    assert stat.S_IMODE(mode) == 0o600


def test_prune_ingests_keeps_fresh_and_busy_partials(store):
    old_digest = sha256_digest(b"old")
    busy_digest = sha256_digest(b"busy")
    fresh_digest = sha256_digest(b"fresh")
    for digest in (old_digest, busy_digest, fresh_digest):
        ingest = store.writer(digest)
        ingest.write(b"x")
        ingest.close()
    for digest in (old_digest, busy_digest):
        os.utime(store.root / "ingest" / digest[7:], (1, 1))
    busy = store.writer(busy_digest)
    try:
        assert store.prune_ingests(older_than=3600) == [old_digest]
    finally:
        busy.close()
    assert store.ingest_offset(old_digest) == 0
    assert store.ingest_offset(busy_digest) == 1
    assert store.ingest_offset(fresh_digest) == 1
