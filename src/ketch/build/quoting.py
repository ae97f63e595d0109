"""Two of Go's character rules the builder's messages and lexers follow, so the text
matches Docker's: `%q` quoting and unicode.IsSpace."""

from __future__ import annotations

from ketch.gostrings import quote as go_quote

__all__ = ["go_quote", "go_space"]

_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0")


def go_space(ch: str) -> bool:
    """Go's unicode.IsSpace (Python's isspace also counts \\x1c-\\x1f)."""
    return ch in _GO_SPACES or (ch > "\xff" and ch.isspace())
