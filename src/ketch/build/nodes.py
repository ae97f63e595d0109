"""One logical line as Docker's parser first splits it: the keyword, the `--flags`, and the
arguments by the keyword's own rule (JSON or not, name=value pairs, words with their quotes
kept, the rest of the line as one string); as BuildKit's `parser.newNodeFromLine` does.
Nothing is expanded or unquoted here: that is the executor's, at the step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ketch.build.quoting import go_quote, go_space
from ketch.build.substitution import ShellLexer
from ketch.errors import InvalidArgument


class NodeError(Exception):
    """An error of the line's syntax (Docker's parser stage, "failed to parse ...")."""


@dataclass
class RawHeredoc:
    name: str
    expand: bool
    chomp: bool
    fd: int = 0
    content: str = ""


@dataclass
class Node:
    keyword: str  # as written ("run", "Copy")
    flags: list[str]
    args: list[str]  # name-value instructions: key, value, "=" or "" (the legacy form)
    json: bool
    original: str
    sub: Node | None = None  # ONBUILD's trigger
    heredocs: list[RawHeredoc] = field(default_factory=list)

    def can_contain_heredoc(self) -> bool:
        node = self.sub if self.keyword.lower() == "onbuild" and self.sub else self
        return node.keyword.lower() in ("add", "copy", "run") and not node.json


_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


def node_from_line(line: str, escape: str) -> Node:
    keyword, flags, rest = split_command(line, escape)
    kind = keyword.lower()
    sub = None
    is_json = False
    if kind in ("add", "copy", "volume"):
        args, is_json = _maybe_json_list(rest)
    elif kind == "arg":
        args = parse_words(rest, escape)
    elif kind in ("cmd", "entrypoint", "run", "shell"):
        args, is_json = _maybe_json(rest)
    elif kind in ("env", "label"):
        args = _name_values(rest, "LABEL" if kind == "label" else "ENV", escape)
    elif kind in ("expose", "from"):
        args = _whitespace_split(rest)
    elif kind == "healthcheck":
        args, is_json = _health(rest)
    elif kind in ("maintainer", "stopsignal", "user", "workdir"):
        args = [rest] if rest else []
    elif kind == "onbuild":
        args = []
        if rest:
            sub = node_from_line(rest, escape)
            args = [sub.keyword, *sub.args]
    else:
        args = []  # an unknown instruction: the instruction parser names it
    return Node(keyword, flags, args, is_json, line, sub)


def split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(_strip(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _extract_flags(parts[1], escape)
    return parts[0], flags, _strip(rest)


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words (quotes and escapes in them resolved) and the rest of
    the line; `--` alone ends them."""
    flags: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and go_space(line[pos]):
            pos += 1
        if pos == n:
            return "", flags
        if not line.startswith("--", pos):
            return line[pos:], flags
        word: list[str] = []
        quote = ""
        blank_ok = False
        while pos < n:
            ch = line[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == escape and pos + 1 < n:
                    pos += 1
                    word.append(line[pos])
                elif ch != escape:
                    word.append(ch)
                else:
                    quote = ""  # an escape ending the line ends the quote
                pos += 1
                continue
            if go_space(ch):
                break
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
            elif ch == escape:
                if pos + 1 < n:
                    pos += 1
                    word.append(line[pos])
            else:
                word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return line[pos:], flags
        if blank_ok or text:
            flags.append(text)


def parse_words(rest: str, escape: str) -> list[str]:
    """Words split on unquoted whitespace, quotes and escapes kept (removed at expansion)."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    while pos < n:
        ch = rest[pos]
        if not in_word:
            if go_space(ch):
                pos += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if pos + 1 == n:
                    quote = ""
                    pos += 1
                    continue  # an escape at the end is dropped
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if go_space(ch):
            if blank_ok or word:
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
            pos += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        elif ch == escape:
            if pos + 1 == n:
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _strip(text: str) -> str:
    start, end = 0, len(text)
    while start < end and go_space(text[start]):
        start += 1
    while end > start and go_space(text[end - 1]):
        end -= 1
    return text[start:end]


def _whitespace_split(rest: str) -> list[str]:
    return _WHITESPACE.split(rest) if rest else []


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")  # NaN and Infinity are Python's, not JSON's


def _json_array(rest: str) -> list[str] | None:
    """The strings of a JSON array, or None when `rest` is not one (shell form then)."""
    text = _strip(rest)
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise NodeError(_NOT_STRING_ARRAY)
    return value


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    array = _json_array(rest)
    if array is not None:
        return array, True
    return [rest], False


def _maybe_json_list(rest: str) -> tuple[list[str], bool]:
    array = _json_array(rest)
    if array is not None:
        return array, True
    return _whitespace_split(rest), False


def _health(rest: str) -> tuple[list[str], bool]:
    sep = 0
    while sep < len(rest) and not go_space(rest[sep]):
        sep += 1
    if sep == 0:
        return [], False
    following = sep
    while following < len(rest) and go_space(rest[following]):
        following += 1
    command, is_json = _maybe_json(rest[following:])
    return [rest[:sep], *command], is_json


def _name_values(rest: str, keyword: str, escape: str) -> list[str]:
    """ENV/LABEL: `k=v k2="v 2"` (each word split at its first =, quotes kept for the
    expansion to remove), or the legacy `k v w` (the rest of the line is the value)."""
    words = parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise NodeError(f"{keyword} must have two arguments")
        return [parts[0], parts[1], ""]
    args: list[str] = []
    for word in words:
        if "=" not in word:
            raise NodeError(
                f"Syntax error - can't find = in {go_quote(word)}. "
                "Must be of the form: name=value")
        key, _, value = word.partition("=")
        args += [key, value, "="]
    return args


_HEREDOC = re.compile(r"^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$")


def parse_heredoc(word: str) -> RawHeredoc | None:
    """`<<EOF`, `<<-EOF`, `<<'EOF'`, `3<<EOF`... as a heredoc (no content yet), or None.
    A quote anywhere in the name means the body is not expanded."""
    match = _HEREDOC.match(word)
    if match is None or not match.group(3):
        return None
    rest = match.group(3)
    plain = ShellLexer(skip_unset=True)
    try:
        words = plain.process(rest, {}).words
        raw_words = ShellLexer(raw_quotes=True, skip_unset=True).process(rest, {}).words
    except InvalidArgument as error:
        raise NodeError(error.message) from None
    if len(words) != 1:
        return None
    name, raw = words[0], raw_words[0]
    expand = _quotes(name) == _quotes(raw)
    return RawHeredoc(name=name, expand=expand, chomp=match.group(2) == "-",
                      fd=int(match.group(1) or 0))


def heredocs_in_line(line: str) -> list[RawHeredoc]:
    # Docker reads the line's words with \ as the escape whatever the directive says.
    try:
        words = ShellLexer(raw_quotes=True, raw_escapes=True, skip_unset=True).process(
            line, {}).words
    except InvalidArgument:
        return []
    found = []
    for word in words:
        heredoc = parse_heredoc(word)
        if heredoc is not None:
            found.append(heredoc)
    return found


def _quotes(text: str) -> int:
    return text.count("'") + text.count('"')
