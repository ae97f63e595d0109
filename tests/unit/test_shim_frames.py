from __future__ import annotations

import pytest

from ketch.shim import frames


def test_header_is_dockers_multiplexed_stream_header() -> None:
    assert frames.encode(frames.STDOUT, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frames.encode(frames.STDERR, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"


def test_decoder_joins_frames_split_anywhere() -> None:
    stream = b"".join(
        [
            frames.encode(frames.CONTROL, b'{"op":"state"}'),
            frames.encode(frames.STDIN, b"x" * 70000),
            frames.encode(frames.CLOSE_STDIN),
        ]
    )
    decoder = frames.FrameDecoder()
    got = []
    for start in range(0, len(stream), 7):
        got += decoder.feed(stream[start : start + 7])
    assert got == [
        (frames.CONTROL, b'{"op":"state"}'),
        (frames.STDIN, b"x" * 70000),
        (frames.CLOSE_STDIN, b""),
    ]
    assert decoder.pending == 0


def test_decoder_keeps_an_incomplete_frame() -> None:
    decoder = frames.FrameDecoder()
    assert decoder.feed(frames.encode(frames.STDOUT, b"abc")[:-1]) == []
    assert decoder.pending == 10
    assert decoder.feed(b"c") == [(frames.STDOUT, b"abc")]


@pytest.mark.parametrize(
    "header",
    [
        b"\x07\x00\x00\x00\x00\x00\x00\x00",
        b"\x01\x01\x00\x00\x00\x00\x00\x00",
        b"\x01\x00\x00\x00\x7f\x00\x00\x00",
    ],
)
def test_bad_headers_are_refused(header: bytes) -> None:
    with pytest.raises(frames.FrameError):
        frames.FrameDecoder().feed(header)
