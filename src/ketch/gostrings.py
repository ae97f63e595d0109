"""Go's strconv.Quote, as `%q` prints a string in Docker's messages and tables (pure)."""

from __future__ import annotations

_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", "\\": "\\\\", '"': '\\"',
}  # fmt: skip


def printable(char: str) -> bool:
    """strconv.IsPrint: letters, marks, numbers, punctuation, symbols, ASCII space."""
    if char == " ":
        return True
    if char < "\x7f":
        return char > " "
    import unicodedata  # only for what ASCII does not settle

    return unicodedata.category(char)[0] in "LMNPS"


def quote(text: str) -> str:
    """strconv.Quote: double quotes; escapes for quotes, backslashes and what is not
    printable (\\x below 0x80, then \\u, then \\U)."""
    out = ['"']
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif printable(char):
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)
