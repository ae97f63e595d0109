"""The embedded DNS server's pure parts: the wire format and the host's resolvers."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ketch.network import dns, dnswire
from ketch.network.dnswire import MalformedMessage


def encode_name(name: str) -> bytes:
    labels = [label for label in name.split(".") if label]
    return b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\0"


def query_bytes(name: str, qtype: int = 1, ident: int = 0xBEEF, flags: int = 0x0100) -> bytes:
    header = struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, 1)


def test_query_is_read_with_its_question_as_sent() -> None:
    data = query_bytes("Web.Example.", qtype=28)
    query = dnswire.parse_query(data)
    assert (query.id, query.name, query.qtype, query.qclass) == (0xBEEF, "Web.Example", 28, 1)
    assert query.question == data[12:]
    assert query.opcode == 0


def test_what_follows_the_question_is_ignored() -> None:
    # An EDNS OPT record in the additional section, as dig and glibc send.
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    data = bytearray(query_bytes("web") + opt)
    data[11] = 1  # arcount
    assert dnswire.parse_query(bytes(data)).name == "web"


def test_compressed_names_are_followed() -> None:
    # "www" then a pointer to "example.com" earlier in the message.
    message = b"\0" * 12 + encode_name("example.com") + b"\x03www\xc0\x0c"
    start = 12 + len(encode_name("example.com"))
    assert dnswire.read_name(message, start) == ("www.example.com", len(message))
    assert dnswire.read_name(message, 12) == ("example.com", start)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x12\x34\x01",  # shorter than a header
        query_bytes("web", flags=0x8100),  # a response
        struct.pack("!HHHHHH", 1, 0, 2, 0, 0, 0) + encode_name("a") + b"\0\1\0\1" * 2,
        struct.pack("!HHHHHH", 1, 0, 0, 0, 0, 0),  # no question
        query_bytes("web")[:-3],  # question cut short
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x05ab",  # label cut short
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\0\1\0\1",  # pointer to itself
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x20\0\1\0\1",  # pointer forward
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x80abc\0\0\1\0\1",  # reserved label type
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x3f" + b"a" * 63 + b"\x3f",  # runs out
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0)
        + (b"\x3f" + b"a" * 63) * 5
        + b"\0\0\1\0\1",  # longer than 255 octets
    ],
)
def test_malformed_queries_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        dnswire.parse_query(data)


def test_reply_carries_a_records_pointing_at_the_question() -> None:
    query = dnswire.parse_query(query_bytes("Web", ident=0x0102))
    data = dnswire.reply(query, dnswire.NOERROR, ["10.89.0.2", "10.89.0.3"], ttl=600)
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data)
    assert (ident, qd, an, ns, ar) == (0x0102, 1, 2, 0, 0)
    assert flags == dnswire.QR | dnswire.RD | dnswire.RA  # RD kept, rcode 0, not truncated
    assert data[12 : 12 + len(query.question)] == query.question
    offset = 12 + len(query.question)
    for address in (b"\x0a\x59\x00\x02", b"\x0a\x59\x00\x03"):
        name, offset = dnswire.read_name(data, offset)
        assert name == "Web"
        assert struct.unpack_from("!HHIH", data, offset) == (1, 1, 600, 4)
        offset += 10
        assert data[offset : offset + 4] == address
        offset += 4
    assert offset == len(data)


def test_reply_past_the_limit_is_truncated_and_says_so() -> None:
    query = dnswire.parse_query(query_bytes("many"))
    addresses = [f"10.89.0.{n}" for n in range(1, 41)]
    data = dnswire.reply(query, dnswire.NOERROR, addresses, ttl=600, limit=512)
    _, flags, _, an, _, _ = struct.unpack_from("!HHHHHH", data)
    assert len(data) <= 512
    assert flags & dnswire.TC
    assert an == (512 - 12 - len(query.question)) // 16
    whole = dnswire.reply(query, dnswire.NOERROR, addresses, ttl=600)
    assert struct.unpack_from("!H", whole, 6)[0] == 40
    assert not struct.unpack_from("!H", whole, 2)[0] & dnswire.TC


def test_rcode_only_reply_and_ids() -> None:
    query = dnswire.parse_query(query_bytes("x", ident=7))
    data = dnswire.reply(query, dnswire.SERVFAIL)
    assert dnswire.rcode_of(data) == dnswire.SERVFAIL
    assert dnswire.is_answer(data, 7)
    assert not dnswire.is_answer(data, 8)
    assert not dnswire.is_answer(query_bytes("x", ident=7), 7)  # a query is no answer
    assert dnswire.message_id(dnswire.with_id(data, 0xABCD)) == 0xABCD
    assert dnswire.with_id(data, 0xABCD)[2:] == data[2:]


def test_host_resolvers_skip_loopback_and_junk(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# generated\n"
        "search example.com\n"
        "nameserver 127.0.0.53\n"
        "nameserver 192.0.2.1\n"
        "nameserver ::1\n"
        "nameserver fe80::1%eth0\n"
        "nameserver not-an-address\n"
        "nameserver 2001:db8::53\n"
        "options edns0\n"
    )
    assert dns.host_resolvers(conf) == ["192.0.2.1", "fe80::1%eth0", "2001:db8::53"]


def test_host_resolvers_with_only_loopback_or_no_file_are_none(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\nnameserver 127.0.1.1\n")
    assert dns.host_resolvers(conf) == []
    assert dns.host_resolvers(tmp_path / "missing") == []


@pytest.mark.parametrize(
    ("upstream", "endpoint"),
    [
        ("192.0.2.1", ("192.0.2.1", 53)),
        ("192.0.2.1:5353", ("192.0.2.1", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
    ],
)
def test_upstream_endpoints(upstream: str, endpoint: tuple[str, int]) -> None:
    assert dns._endpoint(upstream) == endpoint
