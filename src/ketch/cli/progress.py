"""Docker's progress (pull, push, load, import): JSON messages shown as docker's lines.

On a terminal each layer keeps one line, redrawn in place with ANSI cursor
moves; elsewhere only the milestones are printed, one line each, as docker
does when its output is piped.
"""

from __future__ import annotations

from typing import Any, TextIO

from ketch import errors
from ketch.units import progress_bar


def message_line(message: dict[str, Any], terminal: bool) -> str | None:
    """The text of one message, or None when docker would not print it here."""
    status: str = message.get("status", "")
    identifier = message.get("id")
    detail = message.get("progressDetail") or {}
    text = status
    if detail.get("total") or detail.get("current"):
        if not terminal:
            return None
        text = f"{status} {progress_bar(detail.get('current', 0), detail.get('total', 0))}"
    elif message.get("progress") and terminal:
        text = f"{status} {message['progress']}"
    if identifier:
        return f"{identifier}: {text}"
    return text


class ProgressDisplay:
    def __init__(self, out: TextIO, terminal: bool) -> None:
        self.out = out
        self.terminal = terminal
        self.lines: dict[str, int] = {}

    def show(self, message: dict[str, Any]) -> None:
        if "error" in message or "errorDetail" in message:
            detail = message.get("errorDetail") or {}
            text = detail.get("message") or message.get("error") or "unknown error"
            # docker prints an error inside the stream as it came, without the
            # "Error response from daemon" that a refused request gets
            raise errors.Internal(text)
        if "aux" in message:
            return  # docker hands these to a callback (push's digest), never prints them
        if message.get("stream"):
            self.out.write(message["stream"])
            self.out.flush()
            return
        line = message_line(message, self.terminal)
        if line is None:
            return
        identifier = message.get("id")
        # The "latest: Pulling from ..." line shares an id with nothing else;
        # only layer lines are redrawn in place.
        if (
            not self.terminal
            or not identifier
            or message.get("status", "").startswith("Pulling from")
        ):
            self.out.write(line + "\n")
            self.out.flush()
            return
        if identifier not in self.lines:
            self.lines[identifier] = len(self.lines)
            self.out.write(line + "\n")
        else:
            up = len(self.lines) - self.lines[identifier]
            self.out.write(f"\x1b[{up}A\r\x1b[2K{line}\x1b[{up}B\r")
        self.out.flush()
