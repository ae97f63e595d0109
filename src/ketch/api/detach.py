"""Detach keys: the daemon watches an attached stdin for the sequence (ctrl-p,ctrl-q by
default) and ends the session when it sees it, as dockerd does for the docker CLI."""

from __future__ import annotations

from ketch.errors import InvalidArgument

DEFAULT_KEYS = "ctrl-p,ctrl-q"
_CTRL_SPECIALS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_keys(text: str | None) -> bytes:
    """Docker's --detach-keys syntax: comma separated "ctrl-<x>" or single characters."""
    text = text or DEFAULT_KEYS
    keys = bytearray()
    for part in text.split(","):
        if len(part) == 1:
            keys.append(ord(part))
        elif part.startswith("ctrl-") and len(part) == 6:
            char = part[5].lower()
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
            elif char in _CTRL_SPECIALS:
                keys.append(_CTRL_SPECIALS[char])
            else:
                raise InvalidArgument(f"Unknown character: '{part}'")
        else:
            raise InvalidArgument(f"Unknown character: '{part}'")
    return bytes(keys)


class DetachWatcher:
    """Passes stdin through, holding back a partial match of the sequence until it is
    decided; reports when the whole sequence has been typed."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, detach now?)."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys.startswith(candidate):
                self.held = candidate
                if candidate == self.keys:
                    self.held = b""
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if self.keys.startswith(bytes([byte])):
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False
