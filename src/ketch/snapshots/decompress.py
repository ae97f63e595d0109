"""Open a layer blob as an uncompressed tar stream, whatever its compression.

The compression is sniffed from the first bytes, as Docker does, because
registries and tools do not always label layers truthfully.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Protocol, cast

# The decompressors (zstandard, isal: ~1 MiB with their libraries) are imported by the
# first blob opened: the protocols and magics here are what an idle daemon's modules need.
if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Blob(Readable, Protocol):
    """A blob open for reading, positioned at its start: what the decompressors use."""

    def seek(self, offset: int, whence: int = 0, /) -> int: ...


class BlobFile(Blob, Protocol):
    """A blob as a file: what the gzip reader and progress counting use of it."""

    def readinto(self, buffer: WriteableBuffer, /) -> int: ...
    def tell(self) -> int: ...


def compression_of(head: bytes) -> str:
    """'gzip', 'zstd' or 'none' from a blob's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def open_uncompressed(raw: Blob, kind: str | None = None) -> Readable:
    """Wrap a binary file positioned at the blob's start in a decompressing reader.

    `kind` is sniffed from the first bytes unless the caller already did.
    """
    if kind is None:
        head = raw.read(4)
        raw.seek(0)
        kind = compression_of(head)
    if kind == "gzip":
        try:  # isal's gzip is ~2.5x zlib's; the stdlib stays the fallback.
            from isal import igzip as gzip_module
        except ImportError:  # pragma: no cover - isal is a declared dependency
            import gzip as gzip_module  # type: ignore[no-redef]
        return gzip_module.GzipFile(fileobj=raw, mode="rb")
    if kind == "zstd":
        import zstandard

        # zstandard only ever calls `read`; its stub asks for a whole IO.
        source = cast(IO[bytes], raw)
        return zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    return raw


class HashingReader:
    """Passes reads through while hashing them: the DiffID is the digest of the
    uncompressed tar, computed in the same pass that unpacks it."""

    def __init__(self, inner: Readable) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._inner.read(size)
        self._hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read to the end: tar readers stop before the archive's padding."""
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class CountingReader:
    """A blob file that reports how many bytes were read, for `Extracting` progress."""

    def __init__(self, raw: BlobFile, on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        self._on_read(self.count)
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        read = self._raw.readinto(buffer) or 0
        self.count += read
        self._on_read(self.count)
        return read

    def seek(self, offset: int, whence: int = 0, /) -> int:
        position = self._raw.seek(offset, whence)
        self.count = position
        return position

    def tell(self) -> int:
        return self._raw.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True
