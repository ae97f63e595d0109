"""Following an ingest while it is written: a layer unpacked as it downloads reads it so.

The reader's end comes only with a verified commit; a cut, a bad digest or a
restart is an error it cannot miss."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ketch.content import ContentStore, IngestInterrupted, IngestReader
from ketch.oci.digest import sha256_digest

DATA = bytes(range(256)) * 4096  # 1 MiB
DIGEST = sha256_digest(DATA)
CHUNK = 64 * 1024


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


class Follower(threading.Thread):
    """Reads a followed ingest to its end in a thread of its own, as the unpacker does."""

    def __init__(self, reader: IngestReader, size: int = 100_000) -> None:
        super().__init__(daemon=True)
        self.reader, self.size = reader, size
        self.read: bytearray = bytearray()
        self.error: BaseException | None = None
        self.ended = threading.Event()

    def run(self) -> None:
        try:
            while chunk := self.reader.read(self.size):
                self.read += chunk
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc
        finally:
            self.reader.close()
            self.ended.set()


def test_a_follower_reads_every_byte_and_ends_only_at_the_commit(store: ContentStore) -> None:
    ingest = store.writer(DIGEST, len(DATA))
    follower = Follower(ingest.follow())
    follower.start()
    for start in range(0, len(DATA), CHUNK):
        ingest.write(DATA[start : start + CHUNK])
    # Every byte is written, but not yet verified: the follower must still be waiting.
    assert not follower.ended.wait(0.2)
    ingest.commit()
    assert follower.ended.wait(5)
    assert follower.error is None
    assert bytes(follower.read) == DATA
    assert store.has(DIGEST)


def test_a_follower_of_a_resumed_ingest_starts_from_the_first_byte(store: ContentStore) -> None:
    half = len(DATA) // 2
    with store.writer(DIGEST, len(DATA)) as first:
        first.write(DATA[:half])  # a download cut halfway; the partial is kept
    ingest = store.writer(DIGEST, len(DATA))
    assert ingest.offset == half
    follower = Follower(ingest.follow())
    follower.start()
    ingest.write(DATA[half:])
    ingest.commit()
    assert follower.ended.wait(5)
    assert follower.error is None
    assert bytes(follower.read) == DATA


def test_a_cut_download_interrupts_the_follower(store: ContentStore) -> None:
    ingest = store.writer(DIGEST, len(DATA))
    reader = ingest.follow()
    follower = Follower(reader)
    follower.start()
    ingest.write(DATA[:CHUNK])
    ingest.close()  # the connection died: the partial stays for a resume
    assert follower.ended.wait(5)
    assert isinstance(follower.error, IngestInterrupted)
    assert reader.interrupted
    assert bytes(follower.read) == DATA[:CHUNK]
    assert store.ingest_offset(DIGEST) == CHUNK


def test_a_digest_mismatch_interrupts_the_follower_and_keeps_nothing(
    store: ContentStore,
) -> None:
    wrong = bytes(reversed(DATA))
    ingest = store.writer(DIGEST, len(DATA))
    reader = ingest.follow()
    follower = Follower(reader)
    follower.start()
    ingest.write(wrong)
    with pytest.raises(Exception, match="digest mismatch"):
        ingest.commit()
    assert follower.ended.wait(5)
    assert isinstance(follower.error, IngestInterrupted)
    assert reader.interrupted
    assert not store.has(DIGEST)
    assert store.ingest_offset(DIGEST) == 0


def test_a_restarted_download_interrupts_the_follower(store: ContentStore) -> None:
    ingest = store.writer(DIGEST, len(DATA))
    reader = ingest.follow()
    ingest.write(DATA[:CHUNK])
    assert reader.read(CHUNK) == DATA[:CHUNK]
    ingest.reset()  # the server ignored the Range: the bytes read are no longer the blob's
    ingest.write(DATA[:CHUNK])
    with pytest.raises(IngestInterrupted, match="started over"):
        reader.read(CHUNK)
    assert reader.interrupted
    reader.close()
    ingest.abort()


def test_readinto_and_seek_serve_the_decompressors(store: ContentStore) -> None:
    ingest = store.writer(DIGEST, len(DATA))
    reader = ingest.follow()
    ingest.write(DATA)
    head = bytearray(4)
    assert reader.readinto(head) == 4 and bytes(head) == DATA[:4]
    assert reader.seek(0) == 0 and reader.tell() == 0
    ingest.commit()
    assert reader.read() == DATA
    assert reader.read(10) == b""
    reader.close()
