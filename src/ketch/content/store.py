"""Blobs named by their digest, written through a resumable, verified ingest.

Layout under the store's root:
  blobs/<algorithm>/<hex>   committed blobs, never modified
  ingest/<hex>              partial downloads, kept across failures so a later
                            attempt resumes where this one stopped

A blob becomes visible only by the rename at commit, after its size and
digest were checked and its bytes fsynced: a reader never sees a torn blob.
An ingest can be followed while it is written (`Ingest.follow`), so a layer is
unpacked as it downloads; the follower sees the end of the blob only once the
blob is committed, so nothing built from its bytes can be kept unverified.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ketch import atomicfile, errors
from ketch.oci import digest as digests

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_READ_CHUNK = 1 << 20
# Partials are named by the digest's hex alone; its length says the algorithm.
_ALGORITHM_BY_LENGTH = {64: "sha256", 96: "sha384", 128: "sha512"}


class Ingest:
    """One blob being written. Obtain it from `ContentStore.writer`.

    `offset` is how many bytes are already there (non-zero when resuming);
    the hash is recomputed over them on open, so a resumed blob is verified
    end to end, never trusted for the part written earlier.
    """

    def __init__(self, store: ContentStore, digest: str, size: int | None) -> None:
        self._store = store
        self.digest = digests.validate(digest)
        self.expected_size = size
        self.partial_path = store.root / "ingest" / digests.encoded(digest)
        fd = os.open(self.partial_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # One writer per blob: a second pull of the same layer must not interleave bytes.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise errors.Conflict(f"blob {digest} is already being written") from None
        self._file = os.fdopen(fd, "r+b", buffering=0)
        self._hash = digests.hasher(digest)
        self.offset = 0
        self._closed = False
        self._committed = False
        # Followers wait on it for bytes; `_restarts` tells them their bytes were dropped.
        self._written = threading.Condition()
        self._restarts = 0
        self._followed = False
        self._rehash_existing()

    def _rehash_existing(self) -> None:
        self._file.seek(0)
        while chunk := self._file.read(_READ_CHUNK):
            self._hash.update(chunk)
            self.offset += len(chunk)
        if self.expected_size is not None and self.offset > self.expected_size:
            # Longer than the blob can be: nothing in it can be trusted.
            self.reset()

    def reset(self) -> None:
        """Start over from byte 0 (when a server ignores a Range request)."""
        self._file.seek(0)
        self._file.truncate(0)
        self._hash = digests.hasher(self.digest)
        with self._written:
            self.offset = 0
            self._restarts += 1
            self._written.notify_all()

    def write(self, chunk: bytes | memoryview) -> None:
        if self.expected_size is not None and self.offset + len(chunk) > self.expected_size:
            got = self.offset + len(chunk)
            self.abort()
            raise errors.InvalidArgument(
                f"blob {self.digest} is larger than expected: {got} > {self.expected_size} bytes"
            )
        try:
            # An unbuffered write may be short (the disk filling up mid-chunk): write
            # the rest, so the file holds exactly the bytes that were hashed, and
            # the next write's ENOSPC is the error.
            rest = memoryview(chunk)
            while rest:
                rest = rest[self._file.write(rest) :]
        except OSError as exc:
            if not errors.is_storage_error(exc):
                raise
            # A full disk: the partial goes, giving its space back to what already runs.
            self.abort()
            raise errors.storage_error(exc, self.partial_path) from None
        self._hash.update(chunk)
        if not self._followed:
            self.offset += len(chunk)
            return
        with self._written:
            self.offset += len(chunk)
            self._written.notify_all()

    def follow(self) -> IngestReader:
        """A reader of this blob's bytes from the first, as they are written (see IngestReader)."""
        self._followed = True
        return IngestReader(self)

    def commit(self) -> str:
        """Verify size and digest, then move the blob into place; returns the digest.

        A mismatch removes the partial (its bytes are wrong, resuming would only
        repeat the error) and raises InvalidArgument naming both digests.
        """
        actual = f"{digests.algorithm(self.digest)}:{self._hash.hexdigest()}"
        if self.expected_size is not None and self.offset != self.expected_size:
            got = self.offset
            self.abort()
            raise errors.InvalidArgument(
                f"size mismatch for {self.digest}: expected {self.expected_size} bytes, got {got}"
            )
        if actual != self.digest:
            self.abort()
            raise errors.InvalidArgument(
                f"digest mismatch: expected {self.digest}, got {actual}: "
                "the content is not what was asked for"
            )
        on_disk = os.fstat(self._file.fileno()).st_size
        if on_disk != self.offset:
            self.abort()
            raise errors.Internal(
                f"blob {self.digest}: {on_disk} bytes on disk where {self.offset} were written"
            )
        self._file.flush()
        os.fsync(self._file.fileno())
        target = self._store.path(self.digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.partial_path, 0o444)
        os.rename(self.partial_path, target)
        atomicfile.fsync_directory(target.parent)
        self._committed = True
        self._close_file()
        return self.digest

    def close(self) -> None:
        """Stop writing but keep the partial, so a later `writer()` resumes it."""
        self._close_file()

    def abort(self) -> None:
        """Stop writing and throw the partial away."""
        try:
            self.partial_path.unlink()
        except FileNotFoundError:
            pass
        self._close_file()

    def _close_file(self) -> None:
        if not self._closed:
            with self._written:
                self._closed = True
                self._written.notify_all()
            self._file.close()

    def __enter__(self) -> Ingest:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Leaving without commit keeps the partial: an interrupted download resumes.
        self._close_file()


class IngestInterrupted(Exception):
    """The followed ingest stopped before its commit (cut, aborted) or started over."""


class IngestReader:
    """Reads an ingest's bytes from its first while they are written, from another thread.

    `read` waits for bytes not yet written and returns b"" (the end) only once the
    ingest is committed, its size and digest verified. When the ingest is closed
    without a commit, aborted or reset, `read` raises IngestInterrupted and
    `interrupted` says so: whatever was made from the bytes must be thrown away.
    """

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest
        # Its own descriptor: the ingest's is closed at commit, and pread moves no offset.
        self._fd = os.dup(ingest._file.fileno())
        self._restarts = ingest._restarts
        self.position = 0
        self.interrupted = False

    def _available(self) -> int:
        """Bytes ready at `position`; 0 at the verified end."""
        ingest = self._ingest
        with ingest._written:
            while True:
                if ingest._restarts != self._restarts:
                    self._interrupt("the download started over")
                ready = ingest.offset - self.position
                if ready > 0 or ingest._committed:
                    return ready
                if ingest._closed:
                    self._interrupt("the download stopped before its end")
                ingest._written.wait()

    def _interrupt(self, why: str) -> None:
        self.interrupted = True
        raise IngestInterrupted(f"blob {self._ingest.digest}: {why}")

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            parts = []
            while part := self.read(_READ_CHUNK):
                parts.append(part)
            return b"".join(parts)
        ready = self._available()
        data = os.pread(self._fd, min(size, ready), self.position) if ready and size else b""
        self.position += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        ready = self._available()
        count = os.preadv(self._fd, [view[: min(len(view), ready)]], self.position) if ready else 0
        self.position += count
        return count

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        if whence != os.SEEK_SET or offset < 0:
            raise OSError("an ingest reader seeks only to a position from the start")
        self.position = offset
        return offset

    def tell(self) -> int:
        return self.position

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "ingest").mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        algorithm, hex_part = digests.validate(digest).split(":", 1)
        return self.root / "blobs" / algorithm / hex_part

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise errors.NotFound(f"content digest {digest}: not found") from None

    def read_bytes(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise errors.NotFound(f"content digest {digest}: not found") from None

    def put_bytes(self, data: bytes, digest: str | None = None) -> str:
        """Store `data` (verified against `digest` when given); returns its digest."""
        digest = digest or digests.sha256_digest(data)
        if self.has(digest):
            return digest
        with self.writer(digest, len(data)) as ingest:
            ingest.reset()
            ingest.write(data)
            return ingest.commit()

    def writer(self, digest: str, size: int | None = None) -> Ingest:
        """An ingest for `digest`, resuming any partial left by an earlier attempt."""
        return Ingest(self, digest, size)

    def ingest_offset(self, digest: str) -> int:
        """Bytes already downloaded for `digest` (0 when nothing is in progress)."""
        try:
            return (self.root / "ingest" / digests.encoded(digest)).stat().st_size
        except FileNotFoundError:
            return 0

    def delete(self, digest: str) -> None:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            raise errors.NotFound(f"content digest {digest}: not found") from None

    def digests(self) -> Iterator[str]:
        blobs = self.root / "blobs"
        for algorithm_dir in sorted(blobs.iterdir()):
            for entry in sorted(algorithm_dir.iterdir()):
                digest = f"{algorithm_dir.name}:{entry.name}"
                try:
                    digests.validate(digest)
                except errors.InvalidArgument:
                    continue  # a stray file is not content
                yield digest

    def drop_ingest(self, digest: str) -> bool:
        """Remove the partial download of `digest` unless a writer holds it."""
        partial = self.root / "ingest" / digests.encoded(digests.validate(digest))
        try:
            fd = os.open(partial, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        else:
            partial.unlink(missing_ok=True)
            return True
        finally:
            os.close(fd)

    def prune_ingests(self, older_than: float) -> list[str]:
        """Remove partial downloads untouched for `older_than` seconds; returns their digests.

        A partial in use (locked by a writer) is left alone whatever its age.
        """
        removed = []
        cutoff = time.time() - older_than
        for entry in (self.root / "ingest").iterdir():
            try:
                if entry.stat().st_mtime > cutoff:
                    continue
                fd = os.open(entry, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            else:
                if os.fstat(fd).st_mtime > cutoff:
                    continue  # written between the look and the lock: a pull is resuming it
                entry.unlink(missing_ok=True)
                removed.append(
                    f"{_ALGORITHM_BY_LENGTH.get(len(entry.name), 'sha256')}:{entry.name}"
                )
            finally:
                os.close(fd)
        return removed
