"""The build context `ketch build` sends, made as the docker CLI makes it: a directory
as a tar filtered by its `.dockerignore` (the Dockerfile and .dockerignore kept, as the
daemon wants them), a tar (or a lone Dockerfile) from stdin, and a Dockerfile from
stdin or from outside the context added under a random `.dockerfile.<hex>` name.

The tar is written while it is sent, a chunk at a time, so a large context costs no
more memory than one chunk.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
import tarfile
import time
from pathlib import Path

from ketch.dockerignore import Matcher, context_files, read_patterns

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import BinaryIO

CHUNK = 1024 * 1024
BLOCK = 512
DEFAULT_DOCKERFILE = "Dockerfile"
# gzip, bzip2, xz, zstd: what compression.Detect knows
COMPRESSED_MAGIC = (b"\x1f\x8b\x08", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


class ContextError(Exception):
    """What docker prints as "unable to prepare context: ..." or its own words."""


class Context:
    """What to send: the tar's chunks and the Dockerfile's name inside it."""

    def __init__(self, chunks: Iterable[bytes], dockerfile: str) -> None:
        self.chunks = chunks
        self.dockerfile = dockerfile  # "" lets the daemon use its default


def is_remote(text: str) -> bool:
    """urlutil.IsURL / IsGitURL: what docker would fetch or clone instead of reading."""
    return text.startswith(("http://", "https://", "git://", "git@", "github.com/"))


def is_archive(header: bytes) -> bool:
    """build.IsArchive: compressed, or a first tar header that reads."""
    if header.startswith(COMPRESSED_MAGIC):
        return True
    if len(header) < BLOCK or not header[:BLOCK].strip(b"\0"):
        return False
    try:
        tarfile.TarInfo.frombuf(header[:BLOCK], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def from_stdin(stdin: BinaryIO, dockerfile: str) -> Context:
    """`ketch build -`: a tar as it is, or a Dockerfile alone (then -f may not be given)."""
    header = stdin.read(BLOCK * 2)
    while len(header) < BLOCK * 2:
        more = stdin.read(BLOCK * 2 - len(header))
        if not more:
            break
        header += more
    if is_archive(header):
        return Context(_prefixed(header, stdin), dockerfile)
    if dockerfile:
        raise ContextError("unable to prepare context: ambiguous Dockerfile source: both stdin "
                           "and flag correspond to Dockerfiles")  # fmt: skip
    content = header + stdin.read()
    now = time.time()
    info = tarfile.TarInfo(DEFAULT_DOCKERFILE)
    info.size, info.mode, info.mtime = len(content), 0o644, int(now)
    return Context(_tar([], [(info, content)]), DEFAULT_DOCKERFILE)


def _prefixed(header: bytes, stream: BinaryIO) -> Iterator[bytes]:
    yield header
    while chunk := stream.read(CHUNK):
        yield chunk


def from_directory(path: str, dockerfile: str, stdin: BinaryIO | None = None) -> Context:
    """GetContextFromLocalDir and the tar of it; `dockerfile` is as given to -f: relative
    to the current directory (not the context), "-" for stdin, "" for the default."""
    directory = _context_directory(path)
    if dockerfile == "-":
        if stdin is None:
            raise ContextError("no stdin to read the Dockerfile from")
        relative, outside = "-", stdin.read()
    else:
        relative = _dockerfile_path(directory, dockerfile)
        outside = None
        if relative.startswith("../"):
            with open(os.path.join(directory, relative), "rb") as handle:
                outside = handle.read()
    ignore_path = os.path.join(directory, ".dockerignore")
    try:
        with open(ignore_path, encoding="utf-8", errors="surrogateescape") as handle:
            ignore_text: str | None = handle.read()
    except FileNotFoundError:
        ignore_text = None
    # TrimBuildFilesFromExcludes: the daemon needs both, and leaves them out itself.
    keep = [".dockerignore"] + ([relative] if dockerfile != "-" else [])
    files = context_files(Path(directory), Matcher(read_patterns(ignore_text or "")), keep)
    entries = [_readable(os.path.join(directory, name), name) for name in files]
    if outside is None:
        return Context(_tar(entries, []), relative)
    # AddDockerfileToBuildContext: the Dockerfile under a random name, and that name in
    # the .dockerignore so the daemon keeps it out of COPY . .
    name = ".dockerfile." + secrets.token_hex(10)
    now = time.time()
    ignore = (ignore_text if ignore_text is not None else ".dockerignore")
    ignore_bytes = (ignore + "\n" + name + "\n").encode("utf-8", "surrogateescape")
    replaced: list[tuple[tarfile.TarInfo, bytes]] = []
    for info_name, content in ((".dockerignore", ignore_bytes), (name, outside)):
        info = tarfile.TarInfo(info_name)
        info.size, info.mode, info.mtime = len(content), 0o600, int(now)
        replaced.append((info, content))
    entries = [(full, arc) for full, arc in entries if arc != ".dockerignore"]
    return Context(_tar(entries, replaced), name)


def _context_directory(path: str) -> str:
    directory = os.path.realpath(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ContextError(f"unable to prepare context: context must be a directory: {directory}")
    return directory


def _dockerfile_path(directory: str, given: str) -> str:
    """getDockerfileRelPath: the Dockerfile relative to the context ("../x" if outside)."""
    if not given:
        candidate = os.path.join(directory, DEFAULT_DOCKERFILE)
        lower = os.path.join(directory, DEFAULT_DOCKERFILE.lower())
        if not os.path.lexists(candidate) and os.path.lexists(lower):
            candidate = lower
    else:
        candidate = os.path.abspath(given)
    resolved = os.path.realpath(candidate)
    if not os.path.lexists(resolved):
        raise ContextError(f'unable to prepare context: Cannot locate Dockerfile: "{resolved}"')
    return os.path.relpath(resolved, directory)


def _readable(full: str, name: str) -> tuple[str, str]:
    """(path, name in the tar), or docker's error for a file it could not read."""
    if stat.S_ISREG(os.lstat(full).st_mode) and not os.access(full, os.R_OK):
        raise ContextError(f"error checking context: no permission to read from '{full}'")
    return full, name


def _tar(entries: list[tuple[str, str]], added: list[tuple[tarfile.TarInfo, bytes]]
         ) -> Iterator[bytes]:  # fmt: skip
    """A tar of `entries` (owned by root, as docker's ChownOpts makes them) and then of
    `added` (made in memory), written a chunk at a time."""
    headers = tarfile.open(fileobj=io.BytesIO(), mode="w")  # for gettarinfo's hard links
    for full, arc in entries:
        info = headers.gettarinfo(full, arc)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = int(info.mtime)  # whole seconds, as Go's tar writes them: no PAX record
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if info.isreg():
            yield from _file_blocks(full, info.size)
    for info, content in added:
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        yield content + _padding(len(content))
    yield b"\0" * (BLOCK * 2)


def _file_blocks(path: str, size: int) -> Iterator[bytes]:
    """The file's bytes as its header promised them: a file that changed size while it
    was read is cut or zero-filled, so the tar stays readable."""
    left = size
    with open(path, "rb") as handle:
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                chunk = b"\0" * min(CHUNK, left)
            left -= len(chunk)
            yield chunk
    yield _padding(size)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)
