from __future__ import annotations

import pytest

from ketch.api.detach import DetachWatcher, parse_keys
from ketch.errors import InvalidArgument


def test_keys_parse_as_docker_reads_them() -> None:
    assert parse_keys(None) == b"\x10\x11"
    assert parse_keys("ctrl-a,x") == b"\x01x"
    assert parse_keys("ctrl-@,ctrl-[,ctrl-_") == b"\x00\x1b\x1f"
    with pytest.raises(InvalidArgument, match="Unknown character"):
        parse_keys("ctrl-1")
    with pytest.raises(InvalidArgument):
        parse_keys("alt-x")


def test_sequence_is_held_back_then_detaches() -> None:
    watcher = DetachWatcher(b"\x10\x11")
    assert watcher.feed(b"ab\x10") == (b"ab", False)
    assert watcher.feed(b"\x11rest") == (b"", True)


def test_partial_match_that_fails_is_passed_through() -> None:
    watcher = DetachWatcher(b"\x10\x11")
    assert watcher.feed(b"\x10") == (b"", False)
    assert watcher.feed(b"z") == (b"\x10z", False)
    assert watcher.feed(b"\x10\x10\x11") == (b"\x10", True)
