"""Replace a file's contents all at once: a reader sees the old file or the new one, never half.

The bytes go to a temporary file beside the target (same directory, so same
filesystem and the rename is atomic), are fsynced, renamed over the target,
and the directory is fsynced so the rename itself survives a crash. On any
failure (a full disk, a value json cannot encode, an interrupt) the temporary
file is removed and the old file is left as it was.

`durable=False` keeps the atomic replace but skips the fsyncs: for state that
lives no longer than the kernel's (veths, addresses, firewall rules), which a
machine crash erases together with the file's last write.

Only os and json: the fork server imports this for every shim, and each module
there is memory every container pays. json.dumps without indent runs the C
encoder; indented output runs the pure-Python one, so the shim writes compact.
"""

from __future__ import annotations

import json
import os
from typing import Any

StrPath = str | os.PathLike[str]


def write_bytes(path: StrPath, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Atomically make `path` hold `data`; `mode` (before umask) is the new file's."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    # Unique per writer: two threads writing the same file must not share a temporary.
    temporary = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_directory(directory or ".")


def write_text(path: StrPath, text: str, *, mode: int = 0o644) -> None:
    write_bytes(path, text.encode(), mode=mode)


def write_json(
    path: StrPath,
    value: Any,
    *,
    indent: int | str | None = None,
    sort_keys: bool = False,
    mode: int = 0o644,
    durable: bool = True,
) -> None:
    """`value` as JSON and a newline; encoded before the temporary file exists."""
    text = json.dumps(value, indent=indent, sort_keys=sort_keys)
    write_bytes(path, text.encode() + b"\n", mode=mode, durable=durable)


def fsync_directory(directory: StrPath) -> None:
    """Make the names created or renamed in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """All of `data`: os.write may write less than asked (a signal, a pipe-like
    filesystem, a disk filling up), and then the next write's error is the one seen."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
