"""Two of Go's character rules the builder's messages and lexers follow, so the text
matches Docker's: `%q` quoting and unicode.IsSpace."""

from __future__ import annotations

_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0")

_GO_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", "\\": "\\\\", '"': '\\"',
}


def go_space(ch: str) -> bool:
    """Go's unicode.IsSpace (Python's isspace also counts \\x1c-\\x1f)."""
    return ch in _GO_SPACES or (ch > "\xff" and ch.isspace())


def go_quote(text: str) -> str:
    """Go's strconv.Quote, as `%q` prints a string in Docker's messages."""
    out = ['"']
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)
