"""`.dockerignore`: which files of a build context are not sent to the builder.

Docker's rules, as the docker CLI reads the file (ignorefile.ReadAll) and matches
paths (moby's patternmatcher): one pattern a line; a line starting with `#` is a
comment; surrounding whitespace is trimmed; a pattern is cleaned like Go's
filepath.Clean (so `./a`, `a/`, `/a` all mean `a`); `*` and `?` never match `/`,
`**` matches any number of directories (even none), `[a-c]` is a character class
and `\\` escapes; a leading `!` makes an exception. A path is excluded when the last
pattern that matches it, or matches one of its parent directories, is not an
exception.

A foundation: the CLI filters the context it sends with it, the builder uses it
for the Dockerfile and .dockerignore themselves.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ketch.errors import InvalidArgument

BOM = "\ufeff"
# Characters a regexp treats specially that mean nothing special to filepath.Match.
REGEXP_ONLY_SPECIALS = frozenset(".+()|{}$")


def go_clean(path: str) -> str:
    """Go's path.Clean: lexical, '' is '.', and one leading slash at most."""
    cleaned = posixpath.normpath(path) if path else "."
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore's text, normalised as the docker CLI does."""
    patterns: list[str] = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.removesuffix("\r")
        if number == 0:
            line = line.removeprefix(BOM)
        if line.startswith("#"):  # a comment only at the line's very start
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def check_match_syntax(pattern: str) -> None:
    """Refuse what Go's filepath.Match calls a malformed pattern (ErrBadPattern)."""
    bad = InvalidArgument(f"syntax error in pattern: {pattern!r}")
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise bad
            i += 2
            continue
        if ch != "[":
            i += 1
            continue
        i += 1
        if i < n and pattern[i] == "^":
            i += 1
        ranges = 0
        while True:
            if i < n and pattern[i] == "]" and ranges > 0:
                i += 1
                break
            low, i = _class_char(pattern, i, bad)
            if i < n and pattern[i] == "-":
                high, i = _class_char(pattern, i + 1, bad)
                if high < low:
                    raise bad
            ranges += 1


def _class_char(pattern: str, i: int, bad: InvalidArgument) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise bad
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise bad
    return pattern[i], i + 1


EXACT, PREFIX, SUFFIX, REGEXP = "exact", "prefix", "suffix", "regexp"


@dataclass
class Pattern:
    text: str  # cleaned, without the `!`
    exception: bool
    kind: str
    regexp: re.Pattern[str] | None

    @classmethod
    def compile(cls, text: str, exception: bool) -> Pattern:
        kind, body = EXACT, ""
        i, n = 0, len(text)
        while i < n:
            start = i
            ch = text[i]
            i += 1
            if ch == "*":
                if i < n and text[i] == "*":
                    i += 1
                    if i < n and text[i] == "/":
                        i += 1
                    if i >= n:  # trailing `**`: everything below
                        if kind == EXACT:
                            kind = PREFIX
                        else:
                            body += ".*"
                            kind = REGEXP
                    else:
                        body += "(.*/)?"
                        kind = REGEXP
                    if start == 0:  # the pattern opens with `**`
                        kind = SUFFIX
                else:
                    body += "[^/]*"
                    kind = REGEXP
            elif ch == "?":
                body += "[^/]"
                kind = REGEXP
            elif ch in REGEXP_ONLY_SPECIALS:
                body += "\\" + ch
            elif ch == "\\":
                if i < n:
                    body += "\\" + text[i]
                    i += 1
                    kind = REGEXP
                else:
                    body += "\\\\"
            elif ch in "[]":
                body += ch
                kind = REGEXP
            else:
                body += ch
        regexp = None
        if kind == REGEXP:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "possible nested set" for `[[`
                    regexp = re.compile(body)
            except re.error as exc:
                raise InvalidArgument(f"syntax error in pattern: {text!r}") from exc
        return cls(text, exception, kind, regexp)

    def match(self, path: str) -> bool:
        if self.kind == EXACT:
            return path == self.text
        if self.kind == PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regexp is not None
        return self.regexp.fullmatch(path) is not None


def _parents(path: str) -> list[str]:
    """'a/b/c' -> ['a', 'a/b']: the directories above a path, outermost first."""
    parent = posixpath.dirname(path)
    if parent in ("", "."):
        return []
    parts = parent.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


MatchInfo = tuple[bool, ...]  # per pattern: did it match this directory (or above)


class Matcher:
    """The patterns of one .dockerignore, compiled once."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.sources: list[str] = []
        self.patterns: list[Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            self.sources.append(text)
            text = go_clean(text)
            exception = text.startswith("!")
            if exception:
                if text == "!":
                    raise InvalidArgument('illegal exclusion pattern: "!"')
                text = text[1:]
            check_match_syntax(text)
            self.patterns.append(Pattern.compile(text, exception))

    @classmethod
    def from_text(cls, text: str) -> Matcher:
        return cls(read_patterns(text))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exception for p in self.patterns)

    def excludes(self, path: str) -> bool:
        """Is `path` (relative, slash-separated) left out of the context?"""
        path = go_clean(path)
        if path == ".":
            return False  # the context's root is never excluded
        parents = _parents(path)
        matched = False
        for pattern in self.patterns:
            # Only a pattern that could change the answer is tried: the answer is
            # the last matching pattern's.
            if pattern.exception != matched:
                continue
            if pattern.match(path) or any(pattern.match(p) for p in parents):
                matched = not pattern.exception
        return matched

    def excludes_in_walk(self, path: str, parent: MatchInfo | None) -> tuple[bool, MatchInfo]:
        """`excludes` during a walk from the root, reusing the parent directory's
        results: exactly what the docker CLI's tar walk computes (a pattern skipped for
        the parent is tried on the path itself only)."""
        if parent is None:
            parent_results: MatchInfo = ()
            parents = _parents(path)
        else:
            parent_results, parents = parent, []
        matched = False
        results: list[bool] = []
        for index, pattern in enumerate(self.patterns):
            hit = bool(parent_results) and parent_results[index]
            if not hit:
                if pattern.exception != matched:
                    results.append(False)
                    continue
                hit = pattern.match(path) or any(pattern.match(p) for p in parents)
            results.append(hit)
            if hit:
                matched = not pattern.exception
        return matched, tuple(results)

    def may_include_below(self, directory: str) -> bool:
        """Could an exception re-include something under the excluded `directory`? If
        not, a walk skips it whole (Docker's test: an exception's text starts with the
        directory's path)."""
        prefix = directory + "/"
        return any(p.exception and (p.text + "/").startswith(prefix) for p in self.patterns)

    def legacy_matches(self, path: str) -> bool:
        """patternmatcher's deprecated Matches, which the docker CLI still uses to decide
        whether the Dockerfile and .dockerignore need an exception: a parent directory
        is only tried at the pattern's own depth."""
        path = go_clean(path)
        if path == ".":
            return False
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        matched = False
        for pattern in self.patterns:
            if pattern.exception != matched:
                continue
            hit = pattern.match(path)
            depth = len(pattern.text.split("/"))
            if not hit and parent != "." and depth <= len(parent_dirs):
                hit = pattern.match("/".join(parent_dirs[:depth]))
            if hit:
                matched = not pattern.exception
        return matched

    def keeping(self, names: Iterable[str]) -> Matcher:
        """This matcher with exceptions for `names` that it would exclude: the docker
        CLI always sends the Dockerfile and .dockerignore (the daemon drops them from
        what COPY sees)."""
        extra = [f"!{go_clean(name)}" for name in names if self.legacy_matches(name)]
        return Matcher(self.sources + extra)


def context_files(root: Path, matcher: Matcher, keep: Iterable[str] = ()) -> Iterator[str]:
    """The relative paths (directories, files, links) of `root` to send as the build
    context, parents before children, names in byte order within a directory — the
    docker CLI's walk. `keep` names files always sent (the Dockerfile, .dockerignore).

    A directory excluded while an exception may match below it is walked into but not
    itself listed, as Docker does; one no exception can reach is not walked at all.
    """
    matcher = matcher.keeping(keep)
    yield from _walk(root, "", None, matcher)


def _walk(root: Path, directory: str, info: MatchInfo | None, matcher: Matcher) -> Iterator[str]:
    absolute = root / directory if directory else root
    try:
        names = sorted(os.listdir(absolute), key=os.fsencode)
    except (FileNotFoundError, NotADirectoryError):
        return  # removed or replaced while we walk
    for name in names:
        rel = f"{directory}/{name}" if directory else name
        try:
            is_dir = stat.S_ISDIR(os.lstat(absolute / name).st_mode)
        except FileNotFoundError:
            continue
        excluded, results = matcher.excludes_in_walk(rel, info)
        if excluded:
            if is_dir and matcher.may_include_below(rel):
                yield from _walk(root, rel, results, matcher)
            continue
        yield rel
        if is_dir:
            yield from _walk(root, rel, results, matcher)
