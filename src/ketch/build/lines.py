"""A Dockerfile's text as logical lines: parser directives read off the top, comments and
blank lines dropped, continuation lines joined, heredoc bodies read on request; as
BuildKit's `frontend/dockerfile/parser.Parse` reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ketch.build.quoting import go_space
from ketch.errors import InvalidArgument

# A directive is `# name=value` before anything else (a blank line, another comment or
# an instruction ends them); names are case-insensitive; unknown names end them too.
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")
_DIRECTIVES = ("syntax", "escape", "check")
_BOM = "\ufeff"


class DockerfileError(InvalidArgument):
    """A Dockerfile that does not parse; the message is Docker's, `file` and `line` (1-based;
    0 when the file as a whole is wrong) say where."""

    def __init__(self, message: str, *, file: str, line: int = 0, end_line: int = 0) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.end_line = end_line or line


class LineError(Exception):
    """An error of the text itself ("unterminated heredoc"), before any instruction is
    read: the caller words it as Docker's "failed to parse Dockerfile: ..."."""

    def __init__(self, message: str, line: int, end_line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.end_line = end_line or line


@dataclass(frozen=True)
class LogicalLine:
    text: str  # continuation lines joined, escape+newline removed, comment lines dropped
    start: int  # 1-based line of its first physical line
    end: int  # of its last (heredoc bodies, read after, move the caller's end on)
    empty_continuation: bool  # an empty line inside it: Docker warns (a future error)


class Lines:
    """The physical lines with a cursor; `escape` and `syntax` are known once the
    directives are read (by the first call to next_logical)."""

    def __init__(self, text: str) -> None:
        self._lines = _physical_lines(text)
        if self._lines and self._lines[0].startswith(_BOM):
            self._lines[0] = self._lines[0][len(_BOM):]
        self._index = 0  # the next physical line to read
        self.escape = "\\"
        self.syntax: str | None = None
        self._directives_done = False
        self._seen: set[str] = set()
        self._continuation = _continuation_regex(self.escape)

    @property
    def line(self) -> int:
        """The 1-based number of the last physical line read."""
        return self._index

    def next_logical(self) -> LogicalLine | None:
        while self._index < len(self._lines):
            raw = self._lines[self._index]
            self._index += 1
            body = _lstrip_space(_trim_newline(raw))
            self._directive(body)
            if _is_comment(body):
                continue
            start = self._index
            body, ends = self._trim_continuation(body)
            if ends and not body:
                continue
            parts = [body]
            empty_continuation = False
            while not ends and self._index < len(self._lines):
                raw = self._lines[self._index]
                self._index += 1
                if _is_comment(raw):
                    continue  # a comment inside a continued instruction is dropped
                piece = _trim_newline(raw)
                if not _lstrip_space(piece):
                    empty_continuation = True
                    continue
                piece, ends = self._trim_continuation(piece)
                parts.append(piece)
            return LogicalLine("".join(parts), start, self._index, empty_continuation)
        return None

    def read_heredoc(self, name: str, chomp: bool, start: int) -> str:
        """The body after the current line up to the line that is `name` (with its leading
        tabs removed first for `<<-`); each body line keeps its line ending."""
        body: list[str] = []
        while self._index < len(self._lines):
            raw = self._lines[self._index]
            self._index += 1
            candidate = _trim_newline(raw)
            if chomp:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                return "".join(body)
            body.append(raw)
        raise LineError("unterminated heredoc", start, self._index)

    def _directive(self, body: str) -> None:
        if self._directives_done:
            return
        if not body.startswith("#"):
            self._directives_done = True
            return
        match = _DIRECTIVE.match(_lstrip_space(body[1:]))
        if match is None or match.group(1).lower() not in _DIRECTIVES:
            self._directives_done = True
            return
        name, value = match.group(1).lower(), match.group(2)
        if name in self._seen:
            raise LineError(f"only one {name} parser directive can be used", self._index)
        self._seen.add(name)
        if name == "escape":
            if value not in ("`", "\\"):
                raise LineError(
                    f"invalid escape token '{value}' does not match ` or \\", self._index)
            self.escape = value
            self._continuation = _continuation_regex(value)
        elif name == "syntax":
            self.syntax = value
        # check= (BuildKit's lint rules) is accepted and not acted on.

    def _trim_continuation(self, text: str) -> tuple[str, bool]:
        """(text without a trailing escape, True when the instruction ends on this line).
        An escape preceded by an escape is not a continuation, unless it stands alone."""
        match = self._continuation.search(text)
        if match is None:
            return text, True
        return text[: match.start()] + (match.group(1) or ""), False


def _physical_lines(text: str) -> list[str]:
    """Lines split on \n only (Python's splitlines also splits on \v, \f, \x1c...), each
    keeping its ending."""
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


def _lstrip_space(text: str) -> str:
    i = 0
    while i < len(text) and go_space(text[i]):
        i += 1
    return text[i:]


def _continuation_regex(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return _lstrip_space(line).startswith("#")
