"""The build context as the daemon receives it: `POST /build`'s body, a tar.

The tar may be plain or gzip, bzip2, xz or zstd compressed; the kind is read from
its first bytes, as dockerd's DecompressStream does. It is unpacked by the
snapshots' layer unpacker (each entry's path kept inside the destination, parents
opened without following symlinks, hard links only to entries of the same tar), with
`.wh.` names kept as ordinary files and device nodes refused.

Then, as dockerd's legacy builder: the Dockerfile is read from the context (a path
inside it, symlinks followed within it), and the Dockerfile and `.dockerignore`
are removed from what COPY and ADD see when `.dockerignore` names them. The rest of
`.dockerignore` is the client's to apply: the docker CLI sends the context already
filtered, and dockerd does not filter it again.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

import zstandard

try:  # isal's gzip is faster than zlib's, as for layers
    from isal import igzip as gzip_module
except ImportError:  # pragma: no cover - isal is a declared dependency
    import gzip as gzip_module  # type: ignore[no-redef]

from ketch.containers.archive import resolve
from ketch.dockerignore import Matcher, go_clean, read_patterns
from ketch.errors import InvalidArgument, KetchError, NotFound
from ketch.snapshots.decompress import GZIP_MAGIC, ZSTD_MAGIC, Readable
from ketch.snapshots.unpack import LayerUnpacker

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
HEAD_SIZE = 6
DEFAULT_DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"


class ChunkReader:
    """A readable over an iterable of byte chunks (a request body read in pieces)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def read(self, size: int = -1, /) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        if size < 0:
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data


class PeekedReader(io.RawIOBase):
    """Gives back the bytes read to sniff the compression before the rest."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int = -1, /) -> bytes:
        if not self._head:
            return self._rest.read(size)
        if size < 0:
            data, self._head = self._head + self._rest.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data


def decompressed(source: Readable) -> Readable:
    """The uncompressed tar stream of a context, whatever it was compressed with."""
    head = b""
    while len(head) < HEAD_SIZE:
        more = source.read(HEAD_SIZE - len(head))
        if not more:
            break
        head += more
    peeked = PeekedReader(head, source)
    raw = cast(IO[bytes], peeked)  # the decompressors only ever call read()
    if head.startswith(GZIP_MAGIC):
        return gzip_module.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(BZIP2_MAGIC):
        return bz2.BZ2File(raw, mode="rb")
    if head.startswith(XZ_MAGIC):
        return lzma.LZMAFile(raw, mode="rb")
    if head.startswith(ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return peeked


def unpack_context(source: Readable | Iterable[bytes], dest: Path) -> None:
    """Unpack a build context into the empty directory `dest`, keeping each entry's
    mode, owner and mtime; InvalidArgument for an entry that would land outside it
    (absolute, `..`, through a symlink, a hard link to outside) or a device node."""
    if hasattr(source, "read"):
        readable = cast(Readable, source)
    else:
        readable = ChunkReader(source)
    unpacker = LayerUnpacker(
        dest, what="build context", whiteouts=False, devices=False, open_end=True
    )
    try:
        stream = decompressed(readable)
        try:
            unpacker.unpack(stream)
        except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as exc:
            # A compressed stream that is cut off or corrupt.
            raise InvalidArgument(f"invalid build context: {exc}") from exc
    finally:
        unpacker.close()


def read_dockerfile(context: Path, name: str = DEFAULT_DOCKERFILE) -> str:
    """The Dockerfile's text: `name` is a path inside the context (symlinks followed,
    never out of it: `..` and absolute paths stay inside, as dockerd scopes them).
    `Dockerfile` falls back to `dockerfile`. Then, as dockerd, the Dockerfile and
    `.dockerignore` are removed from the context when `.dockerignore` names them."""
    name = name or DEFAULT_DOCKERFILE
    try:
        data = _read_in_context(context, name)
    except NotFound:
        lowercase = name.lower()
        if name != DEFAULT_DOCKERFILE or lowercase == name:
            raise NotFound(f"Cannot locate specified Dockerfile: {name}") from None
        try:
            data = _read_in_context(context, lowercase)
        except NotFound:
            raise NotFound(f"Cannot locate specified Dockerfile: {name}") from None
        name = lowercase
    drop_ignored_build_files(context, name)
    return data.decode("utf-8", errors="replace")


def _read_in_context(context: Path, name: str) -> bytes:
    root_fd = os.open(context, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = resolve(root_fd, name, follow_final=True)
        except InvalidArgument as exc:  # a parent is a file: as missing, for Docker
            raise NotFound(str(exc)) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InvalidArgument(f"the Dockerfile ({name}) must be a regular file")
            with open(f"/proc/self/fd/{fd}", "rb") as dockerfile:
                return dockerfile.read()
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)


def drop_ignored_build_files(context: Path, dockerfile: str) -> None:
    """Remove `.dockerignore` and the Dockerfile from the context if `.dockerignore`
    excludes them (the client had to send them; COPY must not see them)."""
    try:
        text = _read_in_context(context, DOCKERIGNORE).decode("utf-8", errors="replace")
    except (NotFound, InvalidArgument):
        return
    try:
        matcher = Matcher(read_patterns(text))
    except KetchError as exc:
        raise InvalidArgument(f"error reading .dockerignore: {exc}") from exc
    for name in (DOCKERIGNORE, dockerfile):
        if matcher.excludes(name):
            _remove_in_context(context, name)


def _remove_in_context(context: Path, name: str) -> None:
    """Remove `name` (itself, not a symlink's target) within the context."""
    parent, _, base = go_clean("/" + name).lstrip("/").rpartition("/")
    if not base:
        return
    root_fd = os.open(context, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            parent_path = resolve(root_fd, parent, follow_final=True)
        except (NotFound, InvalidArgument):
            return
        try:
            parent_fd = os.open(f"/proc/self/fd/{parent_path}", os.O_RDONLY | os.O_DIRECTORY)
        finally:
            os.close(parent_path)
        try:
            if stat.S_ISDIR(os.lstat(base, dir_fd=parent_fd).st_mode):
                shutil.rmtree(base, dir_fd=parent_fd)
            else:
                os.unlink(base, dir_fd=parent_fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(parent_fd)
    finally:
        os.close(root_fd)
