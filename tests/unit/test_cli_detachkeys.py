"""The detach sequence typed at a terminal: parsed as docker does, never sent on."""

from __future__ import annotations

import pytest

from ketch.cli.detachkeys import DEFAULT, DetachWatcher, parse


def test_parse() -> None:
    assert parse(DEFAULT) == b"\x10\x11"
    assert parse("ctrl-a,x") == b"\x01x"
    assert parse("ctrl-@,ctrl-[") == b"\x00\x1b"
    with pytest.raises(ValueError, match="Unknown character"):
        parse("ctrl-pp")


def test_sequence_is_swallowed_and_reported() -> None:
    watcher = DetachWatcher(b"\x10\x11")
    assert watcher.feed(b"ls\r") == (b"ls\r", False)
    assert watcher.feed(b"ab\x10") == (b"ab", False)  # held: may be the start
    assert watcher.feed(b"\x11rest") == (b"", True)


def test_partial_match_that_is_typing_is_sent() -> None:
    watcher = DetachWatcher(b"\x10\x11")
    assert watcher.feed(b"\x10") == (b"", False)
    assert watcher.feed(b"z") == (b"\x10z", False)
    assert watcher.feed(b"\x10\x10") == (b"\x10\x10", False)
