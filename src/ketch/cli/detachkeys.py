"""The key sequence that detaches from a container's terminal (Docker's ctrl-p,ctrl-q).

The docker CLI watches for it itself, on the way from the local terminal to
the container: the sequence is not sent, and the CLI leaves the container
running. A partial match that turns out to be typing is sent on unchanged.
"""

from __future__ import annotations

DEFAULT = "ctrl-p,ctrl-q"
_CONTROL_SYMBOLS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse(text: str) -> bytes:
    """`ctrl-p,ctrl-q` -> b"\\x10\\x11"; single characters stand for themselves."""
    keys = bytearray()
    for part in text.split(","):
        part = part.strip()
        if part.lower().startswith("ctrl-") and len(part) == 6:
            symbol = part[5].lower()
            if "a" <= symbol <= "z":
                keys.append(ord(symbol) - ord("a") + 1)
            elif symbol in _CONTROL_SYMBOLS:
                keys.append(_CONTROL_SYMBOLS[symbol])
            else:
                raise ValueError(f"Unknown character: '{part}'")
        elif len(part) == 1:
            keys.append(ord(part))
        else:
            raise ValueError(f"Unknown character: '{part}'")
    return bytes(keys)


class DetachWatcher:
    """Filters typed bytes: returns what to send, and whether the sequence was typed."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    self._held = b""
                    return bytes(out), True
                self._held = candidate
                continue
            out += candidate
            self._held = b""
        return bytes(out), False
