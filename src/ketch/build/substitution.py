"""Docker's shell-word lexer: `$VAR` and `${VAR...}` replaced, quotes and escapes removed,
as BuildKit's `frontend/dockerfile/shell` does it for a Dockerfile's words.

`expand(word, env)` is one word in, one string out (whitespace kept); `expand_words`
splits the result on unquoted whitespace (EXPOSE's `$PORTS`). Unknown variables expand
to "". The lexer is also what the parser uses, in its raw modes, to find heredoc names.

Which instruction expands which of its parts is `EXPANDED`, data for the executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ketch.build.patterns import (
    PatternError,
    pattern_regex,
    replace_all,
    trim_prefix,
    trim_suffix,
)
from ketch.build.quoting import go_quote, go_space
from ketch.errors import InvalidArgument

# What Docker expands, per instruction, at the step that runs it, with the ARG and ENV
# values in force then (names are the fields of ketch.build.instructions). Not listed:
# RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK (the shell does it, or nothing: exec form is
# literal), ONBUILD (expanded when the trigger runs in the child build), MAINTAINER.
# RUN's --mount values are expanded too (each `key=value` of one). FROM's image and
# --platform see only the meta ARGs (those before the first FROM). EXPOSE's words are
# split after expansion (`EXPOSE $PORTS` with PORTS="80 443" is two ports): it alone
# uses expand_words; every other part is one word.
EXPANDED: Mapping[str, tuple[str, ...]] = {
    "ADD": ("sources", "dest", "chown", "chmod", "checksum"),
    "ARG": ("name", "default"),
    "COPY": ("sources", "dest", "chown", "chmod", "from_"),
    "ENV": ("pairs",),
    "EXPOSE": ("ports",),
    "FROM": ("image", "platform"),
    "LABEL": ("pairs",),
    "RUN": ("mounts",),
    "STOPSIGNAL": ("signal",),
    "USER": ("user",),
    "VOLUME": ("paths",),
    "WORKDIR": ("path",),
}

# COPY/ADD heredoc bodies (`COPY <<EOF /x`) are expanded only when the heredoc's name
# was not quoted (Heredoc.expand), with expand_heredoc: quotes in the body stay.

_EOF = ""  # what _Scanner.peek gives at the end: no character is the empty string


@dataclass(frozen=True)
class Expansion:
    """One word's expansion: the text, its words, and the variables it looked up, found
    (`matched`) or not (`unmatched`), to tell which build args a build consumed."""

    text: str
    words: tuple[str, ...]
    matched: frozenset[str]
    unmatched: frozenset[str]


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    return ShellLexer(escape).process(word, env).text


def expand_words(word: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    return list(ShellLexer(escape).process(word, env).words)


def expand_tracking(word: str, env: Mapping[str, str], *, escape: str = "\\") -> Expansion:
    return ShellLexer(escape).process(word, env)


def variables_used(word: str, env: Mapping[str, str], *, escape: str = "\\") -> frozenset[str]:
    """The names `word` looks up (set or not) when expanded with `env`; `${A:-$B}` looks
    up B even with A set (the default is expanded first), as Docker's lexer does."""
    result = expand_tracking(word, env, escape=escape)
    return result.matched | result.unmatched


def expand_heredoc(content: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """A COPY/ADD heredoc body, expanded as Docker does (its ExpandRaw): variables are
    replaced, quotes and escapes are kept."""
    return ShellLexer(escape, raw_quotes=True, raw_escapes=True).process(content, env).text


class ShellLexer:
    """The lexer with its modes: raw_quotes keeps quote characters, raw_escapes keeps
    escape characters, skip_unset leaves unknown variables as written (the parser's
    heredoc detection uses all three)."""

    def __init__(
        self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
        skip_unset: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset

    def process(self, word: str, env: Mapping[str, str]) -> Expansion:
        state = _Word(self, word, env)
        try:
            text, words = state.process_until(_EOF, self.raw_escapes)
        except (_LexError, PatternError) as error:
            raise InvalidArgument(f"failed to process {go_quote(word)}: {error}") from None
        return Expansion(text, tuple(words), frozenset(state.matched),
                         frozenset(state.unmatched))


class _LexError(Exception):
    pass


class _Words:
    """Splits the expanded text into words: whitespace from the word itself or from a
    variable's value splits, quoted text never does."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if go_space(ch):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_text(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def result(self) -> list[str]:
        if "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class _Word:
    def __init__(self, lexer: ShellLexer, text: str, env: Mapping[str, str]) -> None:
        self.lexer = lexer
        self.escape = lexer.escape
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def process_until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Reads up to `stop` (consumed; _EOF: the end) and gives the text and its words."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._process_until(stop)
        finally:
            self.raw_escapes = saved

    def _process_until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while (ch := self.peek()) != _EOF:
            if stop and ch == stop:
                self.next()
                return "".join(result), words.result()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                words.add_text(value)
            elif ch == "<":
                value = self.possible_heredoc()
                result.append(value)
                words.add_raw(value)
            elif ch == "'":
                value = self.single_quote()
                result.append(value)
                words.add_raw(value)
            elif ch == '"':
                value = self.double_quote()
                result.append(value)
                words.add_raw(value)
            else:
                ch = self.next()
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()  # the escape takes the next character literally
                    if ch == _EOF:
                        break  # a lone escape at the end is dropped
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def single_quote(self) -> str:
        # Everything up to the next ' is literal; a ' cannot be escaped inside.
        opening = self.next()
        result = [opening] if self.lexer.raw_quotes else []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _LexError(
                    "unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lexer.raw_quotes:
                    result.append(ch)
                return "".join(result)
            result.append(ch)

    def double_quote(self) -> str:
        # Literal up to the next ", except $ (expanded) and the escape, which escapes
        # only " $ and itself (otherwise it stays, as in sh).
        opening = self.next()
        result = [opening] if self.lexer.raw_quotes else []
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise _LexError(
                    "unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lexer.raw_quotes:
                    result.append(ch)
                return "".join(result)
            if ch == "$":
                result.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    result.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            result.append(ch)

    def possible_heredoc(self) -> str:
        # `<<` and the blanks after it stay one word, so `<< EOF` names a heredoc.
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space = []
        while self.peek() in ("\t", "\r", " "):
            space.append(self.next())
        return "<<" + "".join(space)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.lexer.skip_unset:
                return "$" + name
            return value

        self.next()
        if self.peek() == _EOF:
            raise _LexError("syntax error: missing '}'")
        if self.peek() in ("{", "}", ":"):
            raise _LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.lexer.skip_unset:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self.replace(name)
        modifier = _shown(ch)
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += _shown(ch)
        elif ch not in ("+", "-", "?", "#", "%"):
            raise _LexError(f"unsupported modifier ({modifier}) in substitution")
        pattern_mode = ch in ("#", "%")
        if null_is_unset and pattern_mode:
            raise _LexError(f"unsupported modifier ({modifier}) in substitution")
        word = self.until_brace(pattern_mode)

        value, is_set = self.lookup(name)
        if self.lexer.skip_unset and not is_set:
            return "${" + name + modifier + word + "}"
        if ch == "-":
            return word if not is_set or (null_is_unset and value == "") else value
        if ch == "+":
            return "" if not is_set or (null_is_unset and value == "") else word
        if ch == "?":
            if not is_set:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            if ch == "%":
                return trim_suffix(word, value, greedy)
            return trim_prefix(word, value, greedy)
        raise _LexError(f"unsupported modifier ({modifier}) in substitution")

    def until_brace(self, raw_escapes: bool) -> str:
        try:
            word, _ = self.process_until("}", raw_escapes)
        except _LexError:
            if self.peek() == _EOF:
                raise _LexError("syntax error: missing '}'") from None
            raise
        return word

    def replace(self, name: str) -> str:
        every = self.peek() == "/"
        if every:
            self.next()
        try:
            pattern, _ = self.process_until("/", True)
        except _LexError:
            if self.peek() == _EOF:
                raise _LexError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self.until_brace(True)
        value, is_set = self.lookup(name)
        if self.lexer.skip_unset and not is_set:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = pattern_regex(pattern, greedy=True, anchored=False)
        if every:
            return replace_all(regex, value, replacement)
        match = regex.search(value)
        if match is None:
            return value
        return value[: match.start()] + replacement + value[match.end():]

    def name(self) -> str:
        # Letters, digits and _; a leading digit reads digits only ($1, $999); one
        # special parameter ($@ $* $# $? $- $$ $! $0) is a name of its own.
        start = self.pos
        ch = self.peek()
        if ch and ch.isdecimal():
            while self.peek() and self.peek().isdecimal():
                self.next()
            return self.text[start:self.pos]
        if ch and ch in "@*#?-$!0":
            return self.next()
        while (ch := self.peek()) and (ch.isalpha() or ch.isdecimal() or ch == "_"):
            self.next()
        return self.text[start:self.pos]

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False


def _shown(ch: str) -> str:
    # Go prints the end of input (rune -1) as the replacement character.
    return ch or "\ufffd"
