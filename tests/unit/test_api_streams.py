from __future__ import annotations

from ketch.api import streams


def test_frame_header_is_docker_s() -> None:
    assert streams.frame(streams.STDOUT, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert streams.frame(streams.STDERR, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"


def test_tty_is_raw() -> None:
    assert streams.encode(streams.STDERR, b"abc", tty=True) == b"abc"
    assert streams.encode(streams.STDERR, b"abc", tty=False) == streams.frame(2, b"abc")


def test_parse_frames_keeps_partial_tail() -> None:
    data = streams.frame(1, b"one") + streams.frame(2, b"two") + streams.frame(1, b"three")[:5]
    frames, rest = streams.parse_frames(data)
    assert frames == [(1, b"one"), (2, b"two")]
    assert rest == streams.frame(1, b"three")[:5]
    frames, rest = streams.parse_frames(rest + streams.frame(1, b"three")[5:])
    assert frames == [(1, b"three")] and rest == b""


def test_large_payload_length_is_big_endian() -> None:
    payload = b"x" * 70000
    header = streams.frame(1, payload)[:8]
    assert int.from_bytes(header[4:], "big") == 70000
