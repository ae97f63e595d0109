"""The multiplexed-stream demuxer and the JSON message stream decoder."""

from __future__ import annotations

import pytest

from ketch.client.streams import STDERR, STDOUT, FrameDemuxer, demux, frame, json_messages


def test_frames_split_at_any_byte_are_reassembled() -> None:
    data = frame(STDOUT, b"hello\n") + frame(STDERR, b"oops\n") + frame(STDOUT, b"")
    for cut in range(len(data) + 1):
        demuxer = FrameDemuxer()
        frames = demuxer.feed(data[:cut]) + demuxer.feed(data[cut:])
        assert frames == [(STDOUT, b"hello\n"), (STDERR, b"oops\n"), (STDOUT, b"")]
        assert demuxer.pending == 0


def test_header_layout_is_dockers() -> None:
    assert frame(STDERR, b"ab") == b"\x02\x00\x00\x00\x00\x00\x00\x02ab"
    big = b"x" * 70000
    assert list(demux([frame(STDOUT, big)[:5], frame(STDOUT, big)[5:]])) == [(STDOUT, big)]


def test_partial_frame_stays_pending() -> None:
    demuxer = FrameDemuxer()
    assert demuxer.feed(frame(STDOUT, b"abcdef")[:10]) == []
    assert demuxer.pending == 10


def test_json_messages_split_anywhere() -> None:
    text = b'{"status":"Pulling from library/x","id":"latest"}\r\n{"status":"Digest: s"}\n'
    for cut in range(len(text) + 1):
        messages = list(json_messages([text[:cut], text[cut:]]))
        assert messages == [
            {"status": "Pulling from library/x", "id": "latest"},
            {"status": "Digest: s"},
        ]
    assert list(json_messages([b'{"a":1}{"b":2}'])) == [{"a": 1}, {"b": 2}]


def test_truncated_json_stream_is_an_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        list(json_messages([b'{"status": "Pull']))
