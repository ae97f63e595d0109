"""`ketch cp`: files between a container and the local filesystem, through tar archives
(GET/PUT /containers/{id}/archive), with docker's rules for where a copy lands."""

from __future__ import annotations

import base64
import json
import os
import sys
import tarfile

from ketch import errors
from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, Command, Flag, Parsed
from ketch.cli.terminal import is_terminal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

CHUNK = 1 << 20


def split_argument(text: str) -> tuple[str, str]:
    """docker's splitCpArg: "ctr:path" -> (ctr, path); a local path may hold a colon only
    after a slash (or be absolute), as "./a:b"."""
    if os.path.isabs(text):
        return "", text
    container, sep, path = text.partition(":")
    if not sep or "/" in container:
        return "", text
    return container, path


def _stat(cli: Cli, container: str, path: str) -> dict[str, Any] | None:
    try:
        response = cli.client.request(
            "HEAD", f"/containers/{container}/archive", params={"path": path}
        )
    except errors.NotFound as error:
        if "No such container" in str(error):
            raise
        return None
    header = response.raw.getheader("X-Docker-Container-Path-Stat", "") or ""
    response.close()
    return json.loads(base64.b64decode(header)) if header else None


def _size(n: int) -> str:
    from ketch.cli import units

    return units.human_size(n)


class _Counting:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.total = 0
        self.buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            try:
                chunk = next(self.chunks)
            except StopIteration:
                break
            self.total += len(chunk)
            self.buffer += chunk
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def copy_from(cli: Cli, container: str, source: str, destination: str, quiet: bool) -> None:
    response = cli.client.request(
        "GET", f"/containers/{container}/archive", params={"path": source}
    )
    if destination == "-":
        out = sys.stdout.buffer
        for chunk in response.chunks():
            out.write(chunk)
        out.flush()
        return
    stat_header = response.raw.getheader("X-Docker-Container-Path-Stat", "") or ""
    source_name = json.loads(base64.b64decode(stat_header)).get("name", "") if stat_header else ""
    source_name = source_name or os.path.basename(source.rstrip("/")) or "."
    if os.path.isdir(destination):
        target_dir, rename = destination, None
    else:
        if destination.endswith("/"):
            raise ExitStatus(1, f'destination "{destination}" must be a directory')
        target_dir, rename = os.path.dirname(destination) or ".", os.path.basename(destination)
        if not os.path.isdir(target_dir):
            raise ExitStatus(1, f"lstat {target_dir}: no such file or directory")
    counting = _Counting(response.chunks())
    with tarfile.open(fileobj=counting, mode="r|") as archive:  # type: ignore[call-overload]
        for member in archive:
            if rename is not None:
                head, _, tail = member.name.partition("/")
                if head == source_name:
                    member.name = rename + ("/" + tail if tail else "")
            archive.extract(member, target_dir, filter="tar")
    if not quiet:
        cli.err(f"Successfully copied {_size(counting.total)} to {destination}")


def _tar_chunks(source: str, arcname: str) -> Iterator[bytes]:
    import io

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w|") as archive:
        archive.add(source, arcname=arcname)
    yield buffer.getvalue()


def copy_to(cli: Cli, source: str, container: str, destination: str, quiet: bool) -> None:
    if source == "-":
        data: Any = iter(lambda: sys.stdin.buffer.read(CHUNK), b"")
        target = _stat(cli, container, destination)
        if target is None or not (target.get("mode", 0) & 0x80000000):
            raise ExitStatus(1, f'destination "{container}:{destination}" must be a directory')
        cli.client.request(
            "PUT", f"/containers/{container}/archive", params={"path": destination}, data=data
        ).read()
        return
    if not os.path.lexists(source):
        raise ExitStatus(1, f"lstat {os.path.abspath(source)}: no such file or directory")
    target = _stat(cli, container, destination)
    is_dir = target is not None and bool(target.get("mode", 0) & 0x80000000)
    if is_dir:
        directory, name = destination, os.path.basename(source.rstrip("/")) or "."
    else:
        if destination.endswith("/"):
            raise ExitStatus(1, f'destination "{container}:{destination}" must be a directory')
        if target is not None and os.path.isdir(source):
            raise ExitStatus(1, "cannot copy directory")
        directory = os.path.dirname(destination.rstrip("/")) or "/"
        name = os.path.basename(destination.rstrip("/"))
    body = b"".join(_tar_chunks(source, name))
    cli.client.request(
        "PUT", f"/containers/{container}/archive", params={"path": directory}, data=body
    ).read()
    if not quiet:
        cli.err(f"Successfully copied {_size(len(body))} to {container}:{destination}")


def cp(cli: Cli, parsed: Parsed) -> int:
    source, destination = parsed.args
    if not source:
        raise ExitStatus(1, "source can not be empty")
    if not destination:
        raise ExitStatus(1, "destination can not be empty")
    quiet = parsed.quiet if "quiet" in parsed.changed else not is_terminal(1)
    src_container, src_path = split_argument(source)
    dst_container, dst_path = split_argument(destination)
    if src_container and dst_container:
        raise ExitStatus(1, "copying between containers is not supported")
    if not src_container and not dst_container:
        raise ExitStatus(1, "must specify at least one container source")
    if src_container:
        copy_from(cli, src_container, src_path, dst_path, quiet)
    else:
        copy_to(cli, src_path, dst_container, dst_path, quiet)
    return 0


ENTRIES = {
    "cp": Entry(
        Command(
            "cp",
            "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tketch cp [OPTIONS] SRC_PATH|- "
            "CONTAINER:DEST_PATH",
            "Copy files/folders between a container and the local filesystem",
            [
                Flag(
                    "archive",
                    "archive",
                    "a",
                    BOOL,
                    help="Archive mode (copy all uid/gid information)",
                ),
                Flag(
                    "follow_link",
                    "follow-link",
                    "L",
                    BOOL,
                    help="Always follow symbol link in SRC_PATH",
                ),
                Flag(
                    "quiet",
                    "quiet",
                    "q",
                    BOOL,
                    help="Suppress progress output during copy. Progress output is "
                    "automatically suppressed if no terminal is attached",
                ),
            ],
            min_args=2,
            max_args=2,
        ),
        cp,
    )
}
