"""Where a command's binary output (a tar) goes: `-o FILE`, written whole or not at all, or
stdout unless that is a terminal, as docker refuses."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from ketch.cli.app import ExitStatus
from ketch.cli.terminal import is_terminal


def write_binary(chunks: Iterable[bytes], path: str, failure: str) -> None:
    """`chunks` into `path` (0600, renamed into place when complete), or into stdout."""
    if not path:
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise ExitStatus(1, f"{failure}: {(error.strerror or str(error)).lower()}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def refuse_terminal(path: str, failure: str) -> None:
    """docker's checks before it asks the daemon: somewhere to write that is no terminal."""
    if path:
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ExitStatus(
                1, f"{failure}: invalid output path: stat {directory}: no such file or directory"
            )
        return
    if is_terminal(1):
        raise ExitStatus(1, "cowardly refusing to save to a terminal. Use the -o flag or redirect")
