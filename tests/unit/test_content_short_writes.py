"""A disk filling up mid-chunk gives short writes: the blob must still hold exactly
the bytes that were hashed, or be refused — never committed truncated."""

from __future__ import annotations

import errno
import os

import pytest

from ketch import errors
from ketch.content import ContentStore
from ketch.oci.digest import sha256_digest


class ShortWrites:
    """A file whose writes take at most `step` bytes, then fail as a full disk once
    `room` bytes are in: what an unbuffered write does when space runs out."""

    def __init__(self, real, step: int, room: int | None = None) -> None:
        self.real, self.step, self.room, self.written = real, step, room, 0

    def write(self, data) -> int:
        if self.room is not None and self.written >= self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        take = min(self.step, len(data))
        if self.room is not None:
            take = min(take, self.room - self.written)
        self.written += take
        return self.real.write(bytes(data[:take]))

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_short_writes_are_completed(tmp_path) -> None:
    store = ContentStore(tmp_path)
    data = os.urandom(100_000)
    digest = sha256_digest(data)
    ingest = store.writer(digest, len(data))
    ingest._file = ShortWrites(ingest._file, step=777)
    ingest.write(data[:60_000])
    ingest.write(data[60_000:])
    assert ingest.commit() == digest
    assert store.read_bytes(digest) == data


def test_a_disk_that_fills_mid_chunk_commits_nothing(tmp_path) -> None:
    store = ContentStore(tmp_path)
    data = os.urandom(100_000)
    digest = sha256_digest(data)
    ingest = store.writer(digest, len(data))
    ingest._file = ShortWrites(ingest._file, step=50_000, room=70_000)
    ingest.write(data[:60_000])
    with pytest.raises(errors.KetchError, match="no space left on device"):
        ingest.write(data[60_000:])
    assert not store.has(digest)
    assert list((tmp_path / "ingest").iterdir()) == []
