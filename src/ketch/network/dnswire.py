"""DNS messages on the wire (RFC 1035 section 4), as much as the embedded server needs.

It reads one query (header and question, names compressed or not) and writes
replies to it: an rcode alone, or A records. Everything it does not answer
itself is relayed byte for byte, so nothing else of the format is modelled.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
QUESTION_TAIL = struct.Struct("!HH")  # qtype, qclass
RECORD_TAIL = struct.Struct("!HHIH")  # type, class, ttl, rdlength

# Header flags.
QR = 0x8000
OPCODE = 0x7800
TC = 0x0200
RD = 0x0100
RA = 0x0080
RCODE = 0x000F

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
TYPE_A, TYPE_AAAA = 1, 28
CLASS_IN = 1

UDP_LIMIT = 512  # a reply over UDP without EDNS (RFC 1035 4.2.1)
QUESTION_NAME_POINTER = b"\xc0\x0c"  # the question's name, right after the header


class MalformedMessage(ValueError):
    """Bytes that are not a DNS query this server can read."""


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    name: str  # dotted, without the root's trailing dot, as sent (case kept)
    qtype: int
    qclass: int
    question: bytes  # the question section as sent, echoed in every reply

    @property
    def opcode(self) -> int:
        return (self.flags & OPCODE) >> 11


def read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at offset and the offset just past it (past the first pointer, if any)."""
    labels: list[str] = []
    end = -1
    seen: set[int] = set()
    length = 0
    while True:
        if offset >= len(data):
            raise MalformedMessage("name runs past the message")
        size = data[offset]
        if size & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise MalformedMessage("pointer runs past the message")
            target = ((size & 0x3F) << 8) | data[offset + 1]
            if end < 0:
                end = offset + 2
            if target in seen or target >= offset:
                raise MalformedMessage("compression pointer loops or points forward")
            seen.add(target)
            offset = target
            continue
        if size & 0xC0:
            raise MalformedMessage("unknown label type")
        offset += 1
        if size == 0:
            break
        label = data[offset : offset + size]
        if len(label) < size:
            raise MalformedMessage("label runs past the message")
        length += size + 1
        if length > 255:
            raise MalformedMessage("name longer than 255 octets")
        labels.append(label.decode("ascii", errors="replace"))
        offset += size
    return ".".join(labels), end if end >= 0 else offset


def parse_query(data: bytes) -> Query:
    """The query in data: one question, QR clear; what follows the question is ignored."""
    if len(data) < HEADER.size:
        raise MalformedMessage("shorter than a header")
    ident, flags, qdcount, _an, _ns, _ar = HEADER.unpack_from(data)
    if flags & QR:
        raise MalformedMessage("a response, not a query")
    if qdcount != 1:
        raise MalformedMessage(f"{qdcount} questions")
    name, offset = read_name(data, HEADER.size)
    if offset + QUESTION_TAIL.size > len(data):
        raise MalformedMessage("question runs past the message")
    qtype, qclass = QUESTION_TAIL.unpack_from(data, offset)
    end = offset + QUESTION_TAIL.size
    return Query(ident, flags, name, qtype, qclass, data[HEADER.size : end])


def reply(
    query: Query,
    rcode: int = NOERROR,
    addresses: Sequence[str] = (),
    ttl: int = 0,
    limit: int | None = None,
) -> bytes:
    """A reply to query with an A record per address; past limit bytes, fewer and TC set.

    The question is echoed as sent, so an answer's name is a pointer to it and
    keeps the asker's letter case (which some resolvers check).
    """
    flags = QR | (query.flags & (OPCODE | RD)) | RA | (rcode & RCODE)
    records = [
        QUESTION_NAME_POINTER
        + RECORD_TAIL.pack(TYPE_A, CLASS_IN, ttl, 4)
        + ipaddress.IPv4Address(address).packed
        for address in addresses
    ]
    if limit is not None:
        room = (limit - HEADER.size - len(query.question)) // 16
        if room < len(records):
            records = records[: max(room, 0)]
            flags |= TC
    header = HEADER.pack(query.id, flags, 1, len(records), 0, 0)
    return header + query.question + b"".join(records)


def message_id(data: bytes) -> int:
    if len(data) < HEADER.size:
        raise MalformedMessage("shorter than a header")
    return int.from_bytes(data[:2], "big")


def with_id(data: bytes, ident: int) -> bytes:
    """data with its header's id replaced: a forwarded query's, or its answer's."""
    return ident.to_bytes(2, "big") + data[2:]


def is_answer(data: bytes, ident: int) -> bool:
    """Whether data is a response carrying id ident."""
    return len(data) >= HEADER.size and message_id(data) == ident and bool(data[2] & 0x80)


def rcode_of(data: bytes) -> int:
    return data[3] & RCODE
