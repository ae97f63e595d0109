"""Docker's json-file log driver: one JSON object a line, rotated by size.

`{"log":"hello\\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}`;
output is split on newlines, and a line longer than 16 KiB is written in
pieces without a newline, as Docker does. Rotation keeps `<id>-json.log`,
`.1`, `.2`, ... up to max-file files.
"""

from __future__ import annotations

import errno
import json
import os
import time

from ketch.timestamps import rfc3339_nano

MAX_LINE = 16 * 1024
DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 3

# Go's encoding/json escapes these; clients comparing logs byte for byte expect it.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def encode_line(payload: bytes, stream: str, time_ns: int) -> bytes:
    text = payload.decode("utf-8", errors="replace")
    log = json.dumps(text, ensure_ascii=False).translate(_GO_ESCAPES)
    return f'{{"log":{log},"stream":"{stream}","time":"{rfc3339_nano(time_ns)}"}}\n'.encode()


def split_lines(pending: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    """Complete log messages in pending+data, and what is left waiting for its newline."""
    buffer = pending + data
    messages = []
    start = 0
    while True:
        newline = buffer.find(b"\n", start)
        if newline < 0:
            break
        line = buffer[start : newline + 1]
        while len(line) > MAX_LINE:
            messages.append(line[:MAX_LINE])
            line = line[MAX_LINE:]
        messages.append(line)
        start = newline + 1
    rest = buffer[start:]
    while len(rest) >= MAX_LINE:
        messages.append(rest[:MAX_LINE])
        rest = rest[MAX_LINE:]
    return messages, rest


class JsonFileLog:
    """The log file of one container; `write` is called with raw output as it arrives."""

    def __init__(
        self, path: str, max_size: int = DEFAULT_MAX_SIZE, max_files: int = DEFAULT_MAX_FILES
    ) -> None:
        self.path = path
        self.max_size = max_size if max_size > 0 else 0
        self.max_files = max(1, max_files)
        self._pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

    def write(self, stream: str, data: bytes) -> None:
        messages, self._pending[stream] = split_lines(self._pending[stream], data)
        if messages:
            self._write_messages(stream, messages)

    def _write_messages(self, stream: str, messages: list[bytes]) -> None:
        now = time.time_ns()
        batch = bytearray()
        for message in messages:
            line = encode_line(message, stream, now)
            pending = self._size + len(batch)
            if self.max_size and pending and pending + len(line) > self.max_size:
                self._append(bytes(batch))
                batch.clear()
                self._rotate()
            batch += line
        self._append(bytes(batch))

    def flush_partial(self) -> None:
        """Write what is left without a newline (the process ended mid-line)."""
        for stream, rest in self._pending.items():
            if rest:
                self._pending[stream] = b""
                self._write_messages(stream, [rest])

    def close(self) -> None:
        self.flush_partial()
        os.close(self._fd)

    def _append(self, data: bytes) -> None:
        if not data:
            return
        written = os.write(self._fd, data)
        if written < len(data):
            # The disk took part of a line: cut it off, so the log holds whole JSON lines
            # and readers never meet a torn one; the caller sees the full disk.
            os.ftruncate(self._fd, self._size)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
        self._size += written

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_files > 1:
            for index in range(self.max_files - 1, 1, -1):
                older = f"{self.path}.{index - 1}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{index}")
            os.replace(self.path, f"{self.path}.1")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        else:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self._size = 0
