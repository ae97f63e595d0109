"""The embedded DNS server on real sockets: answers, forwarding, TCP, bad input.

Everything listens on addresses of its own in 127.0.0.0/8: two networks'
listeners, and a fake upstream resolver standing for the host's. The server
runs on an event loop in a thread; the tests ask with plain blocking sockets.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pytest

from ketch.network import dnswire
from ketch.network.dns import TTL, DnsServer

T = TypeVar("T")

NET_A, NET_B = "a" * 64, "b" * 64
NAMES = {
    NET_A: {"web": ["10.89.0.2"], "cache": ["10.89.0.2"], "pair": ["10.89.0.3", "10.89.0.4"]},
    NET_B: {"db": ["10.89.1.2"]},
}
NAMES[NET_A]["many"] = [f"10.89.0.{n}" for n in range(10, 50)]
UPSTREAM_ADDRESS = "192.0.2.53"  # what the fake upstream answers for any A query


def resolve(network_id: str, name: str) -> list[str]:
    if name == "explodes":
        raise RuntimeError("a table that fails")
    return list(NAMES.get(network_id, {}).get(name, []))


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class FakeUpstream(asyncio.DatagramProtocol):
    """Answers every A query with UPSTREAM_ADDRESS (or the rcode set), over UDP and TCP."""

    mode: str = "answer"  # "answer", "silent", "servfail", "nxdomain"
    seen: list[tuple[int, str, int, str]] = field(default_factory=list)  # id, name, type, proto
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def respond(self, data: bytes, proto: str) -> bytes | None:
        query = dnswire.parse_query(data)
        self.seen.append((query.id, query.name, query.qtype, proto))
        if self.mode == "silent":
            return None
        if self.mode in ("servfail", "nxdomain"):
            rcode = dnswire.SERVFAIL if self.mode == "servfail" else dnswire.NXDOMAIN
            return dnswire.reply(query, rcode)
        return dnswire.reply(query, dnswire.NOERROR, [UPSTREAM_ADDRESS], ttl=42)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = self.respond(data, "udp")
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                answer = self.respond(await reader.readexactly(size), "tcp")
                if answer is not None:
                    writer.write(len(answer).to_bytes(2, "big") + answer)
                    await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


async def start_upstream(
    upstream: FakeUpstream, host: str
) -> tuple[asyncio.DatagramTransport, asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(lambda: upstream, local_addr=(host, 0))
    port = udp.get_extra_info("sockname")[1]
    tcp = await asyncio.start_server(upstream.serve_tcp, host, port)
    return udp, tcp, port


@dataclass
class Env:
    loop: LoopThread
    server: DnsServer
    base: str  # "127.x.y": the test's own addresses
    ports: dict[str, int]  # network id -> port, on base.1 (NET_A) and base.2 (NET_B)
    upstream: FakeUpstream
    upstream_port: int  # the upstream's, on base.9

    def addr(self, network_id: str) -> tuple[str, int]:
        return (f"{self.base}.{1 if network_id == NET_A else 2}", self.ports[network_id])


@pytest.fixture
def env() -> Iterator[Env]:
    loop = LoopThread()
    base = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}"
    upstream = FakeUpstream()
    closers: list[Any] = []
    try:
        udp, tcp, port = loop.run(start_upstream(upstream, f"{base}.9"))
        closers += [udp, tcp]
        server = DnsServer(resolve, [f"{base}.9:{port}"], timeout=0.5)
        ports = {
            NET_A: loop.run(server.serve(NET_A, f"{base}.1", 0, network_name="net-a")),
            NET_B: loop.run(server.serve(NET_B, f"{base}.2", 0, network_name="net-b")),
        }
        yield Env(loop, server, base, ports, upstream, port)
        loop.run(server.close())
    finally:
        for closer in closers:
            loop.loop.call_soon_threadsafe(closer.close)
        loop.close()


def encode_query(name: str, qtype: int = dnswire.TYPE_A, ident: int = 0x1234) -> bytes:
    labels = [label for label in name.split(".") if label]
    qname = b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)


@dataclass
class Answer:
    id: int
    flags: int
    rcode: int
    question: bytes
    records: list[tuple[str, int, int, bytes]]  # name, type, ttl, rdata

    @property
    def addresses(self) -> list[str]:
        return [socket.inet_ntoa(r[3]) for r in self.records if r[1] == dnswire.TYPE_A]


def decode_answer(data: bytes) -> Answer:
    ident, flags, qdcount, ancount, _, _ = struct.unpack_from("!HHHHHH", data)
    assert qdcount == 1
    _, offset = dnswire.read_name(data, 12)
    question = data[12 : offset + 4]
    offset += 4
    records = []
    for _ in range(ancount):
        name, offset = dnswire.read_name(data, offset)
        rtype, _class, ttl, size = struct.unpack_from("!HHIH", data, offset)
        offset += 10
        records.append((name, rtype, ttl, data[offset : offset + size]))
        offset += size
    return Answer(ident, flags, flags & 0xF, question, records)


def ask_udp(address: tuple[str, int], message: bytes, timeout: float = 3) -> Answer:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.send(message)
        return decode_answer(sock.recv(65535))


def ask_tcp(address: tuple[str, int], *messages: bytes) -> list[Answer]:
    with socket.create_connection(address, timeout=3) as sock:
        for message in messages:
            sock.sendall(len(message).to_bytes(2, "big") + message)
        stream = sock.makefile("rb")
        answers = []
        for _ in messages:
            size = int.from_bytes(stream.read(2), "big")
            answers.append(decode_answer(stream.read(size)))
        return answers


def test_a_name_of_the_network_is_answered_here(env: Env) -> None:
    message = encode_query("web", ident=0x4242)
    answer = ask_udp(env.addr(NET_A), message)
    assert answer.id == 0x4242
    assert answer.rcode == dnswire.NOERROR
    assert answer.flags & dnswire.QR and answer.flags & dnswire.RA and answer.flags & dnswire.RD
    assert answer.question == message[12:]
    assert answer.addresses == ["10.89.0.2"]
    assert [(r[0], r[2]) for r in answer.records] == [("web", TTL)]
    assert env.upstream.seen == []


def test_aliases_case_trailing_dot_and_the_network_suffix(env: Env) -> None:
    for name in ("cache", "WEB", "Cache.", "web.net-a", "WEB.Net-A."):
        answer = ask_udp(env.addr(NET_A), encode_query(name))
        assert answer.addresses == ["10.89.0.2"], name
        assert answer.records[0][0] == name.rstrip(".")  # the asker's case, echoed
    pair = ask_udp(env.addr(NET_A), encode_query("pair"))
    assert sorted(pair.addresses) == ["10.89.0.3", "10.89.0.4"]
    assert env.upstream.seen == []


def test_aaaa_for_a_name_of_the_network_is_empty_noerror(env: Env) -> None:
    answer = ask_udp(env.addr(NET_A), encode_query("web", dnswire.TYPE_AAAA))
    assert (answer.rcode, answer.records) == (dnswire.NOERROR, [])
    assert env.upstream.seen == []


def test_a_name_of_another_network_goes_upstream(env: Env) -> None:
    answer = ask_udp(env.addr(NET_A), encode_query("db", ident=0x0D0D))
    assert answer.id == 0x0D0D
    assert answer.addresses == [UPSTREAM_ADDRESS]
    assert [(s[1], s[3]) for s in env.upstream.seen] == [("db", "udp")]
    # ...and on its own network it is answered there; nor does the suffix cross networks.
    assert ask_udp(env.addr(NET_B), encode_query("db")).addresses == ["10.89.1.2"]
    assert ask_udp(env.addr(NET_B), encode_query("web.net-a")).addresses == [UPSTREAM_ADDRESS]
    assert ask_udp(env.addr(NET_B), encode_query("web")).addresses == [UPSTREAM_ADDRESS]


def test_unknown_names_and_other_types_are_relayed_with_the_askers_id(env: Env) -> None:
    env.upstream.mode = "nxdomain"
    answer = ask_udp(env.addr(NET_A), encode_query("example.org", ident=0x7777))
    assert (answer.id, answer.rcode) == (0x7777, dnswire.NXDOMAIN)
    env.upstream.mode = "answer"
    mx = ask_udp(env.addr(NET_A), encode_query("web", qtype=15, ident=0x7778))  # MX
    assert mx.id == 0x7778
    assert [(s[1], s[2]) for s in env.upstream.seen] == [("example.org", 1), ("web", 15)]
    # The upstream's answer is relayed as it came: its TTL, not ours.
    assert ask_udp(env.addr(NET_A), encode_query("example.org")).records[0][2] == 42


def test_a_silent_upstream_is_servfail_within_the_timeout(env: Env) -> None:
    env.upstream.mode = "silent"
    started = time.monotonic()
    answer = ask_udp(env.addr(NET_A), encode_query("example.org", ident=0x5151))
    elapsed = time.monotonic() - started
    assert (answer.id, answer.rcode) == (0x5151, dnswire.SERVFAIL)
    assert 0.4 < elapsed < 2.0
    # Names of the network are still answered at once meanwhile.
    assert ask_udp(env.addr(NET_A), encode_query("web"), timeout=0.3).addresses == ["10.89.0.2"]


def test_the_next_upstream_is_asked_after_a_servfail_or_silence(env: Env) -> None:
    async def add_upstreams() -> list[Any]:
        closers = []
        for mode, last in (("servfail", 10), ("silent", 11)):
            fake = FakeUpstream(mode=mode)
            udp, tcp, port = await start_upstream(fake, f"{env.base}.{last}")
            env.server.upstreams.insert(0, f"{env.base}.{last}:{port}")
            closers += [udp, tcp]
        return closers

    closers = env.loop.run(add_upstreams())
    try:
        answer = ask_udp(env.addr(NET_A), encode_query("example.org"))
        assert answer.addresses == [UPSTREAM_ADDRESS]
        env.upstream.mode = "silent"
        assert ask_udp(env.addr(NET_A), encode_query("example.org")).rcode == dnswire.SERVFAIL
    finally:
        for closer in closers:
            env.loop.loop.call_soon_threadsafe(closer.close)


def test_no_upstreams_or_an_internal_network_is_servfail_at_once(env: Env) -> None:
    env.server.upstreams.clear()
    started = time.monotonic()
    assert ask_udp(env.addr(NET_A), encode_query("example.org")).rcode == dnswire.SERVFAIL
    assert time.monotonic() - started < 0.3
    server = DnsServer(resolve, [f"{env.base}.9:{env.ports[NET_A]}"])
    try:
        port = env.loop.run(server.serve(NET_A, f"{env.base}.3", 0, forward=False))
        internal = (f"{env.base}.3", port)
        assert ask_udp(internal, encode_query("example.org")).rcode == dnswire.SERVFAIL
        assert ask_udp(internal, encode_query("web")).addresses == ["10.89.0.2"]
    finally:
        env.loop.run(server.close())
    assert env.upstream.seen == []


def test_forwards_past_the_limit_are_servfail_at_once(env: Env) -> None:
    env.upstream.mode = "silent"
    env.server.max_forwards = 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
        first.settimeout(3)
        first.connect(env.addr(NET_A))
        first.send(encode_query("one.example", ident=1))
        time.sleep(0.1)  # the first is waiting on the upstream
        started = time.monotonic()
        second = ask_udp(env.addr(NET_A), encode_query("two.example", ident=2))
        assert (second.id, second.rcode) == (2, dnswire.SERVFAIL)
        assert time.monotonic() - started < 0.3
        assert decode_answer(first.recv(512)).rcode == dnswire.SERVFAIL  # after the timeout
    assert [s[1] for s in env.upstream.seen] == ["one.example"]
    env.upstream.mode = "answer"
    assert ask_udp(env.addr(NET_A), encode_query("example.org")).addresses == [UPSTREAM_ADDRESS]


def test_tcp_queries_answered_in_turn_on_one_connection(env: Env) -> None:
    web, fwd, many = ask_tcp(
        env.addr(NET_A),
        encode_query("web", ident=1),
        encode_query("example.org", ident=2),
        encode_query("many", ident=3),
    )
    assert (web.id, web.addresses) == (1, ["10.89.0.2"])
    assert (fwd.id, fwd.addresses) == (2, [UPSTREAM_ADDRESS])
    assert env.upstream.seen[0][1:] == ("example.org", 1, "tcp")  # forwarded over TCP too
    assert many.id == 3 and sorted(many.addresses) == sorted(NAMES[NET_A]["many"])
    assert not many.flags & dnswire.TC


def test_a_long_answer_over_udp_is_truncated_for_a_retry_over_tcp(env: Env) -> None:
    answer = ask_udp(env.addr(NET_A), encode_query("many"))
    assert answer.flags & dnswire.TC
    assert 0 < len(answer.addresses) < 40
    assert set(answer.addresses) <= set(NAMES[NET_A]["many"])


@pytest.mark.parametrize(
    "junk",
    [
        b"",
        b"\x00",
        b"\xff" * 11,
        b"\xff" * 300,
        encode_query("web")[:-2],
        bytes([0x12, 0x34, 0x81, 0x80]) + encode_query("web")[4:],  # a response
        struct.pack("!HHHHHH", 9, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",  # pointer loop
    ],
)
def test_malformed_packets_are_dropped_and_the_server_keeps_answering(
    env: Env, junk: bytes
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.connect(env.addr(NET_A))
        sock.send(junk)
        with pytest.raises(TimeoutError):
            sock.recv(65535)
    with socket.create_connection(env.addr(NET_A), timeout=3) as sock:
        sock.sendall(len(junk).to_bytes(2, "big") + junk)
        assert sock.recv(65535) == b""  # the connection is closed, nothing answered
    assert ask_udp(env.addr(NET_A), encode_query("web")).addresses == ["10.89.0.2"]
    assert ask_tcp(env.addr(NET_A), encode_query("web"))[0].addresses == ["10.89.0.2"]


def test_a_failing_table_is_servfail_not_a_dead_server(env: Env) -> None:
    assert ask_udp(env.addr(NET_A), encode_query("explodes")).rcode == dnswire.SERVFAIL
    assert ask_udp(env.addr(NET_A), encode_query("web")).addresses == ["10.89.0.2"]


def test_stop_closes_one_network_and_serving_again_replaces(env: Env) -> None:
    env.loop.run(env.server.stop(NET_B))
    assert set(env.server.serving()) == {NET_A}
    with pytest.raises(ConnectionRefusedError):
        ask_udp(env.addr(NET_B), encode_query("db"))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(env.addr(NET_B), timeout=3)
    assert ask_udp(env.addr(NET_A), encode_query("web")).addresses == ["10.89.0.2"]
    old = env.addr(NET_A)
    port = env.loop.run(env.server.serve(NET_A, f"{env.base}.4", 0))
    assert env.server.serving() == {NET_A: (f"{env.base}.4", port)}
    with pytest.raises(ConnectionRefusedError):
        ask_udp(old, encode_query("web"))
    assert ask_udp((f"{env.base}.4", port), encode_query("web")).addresses == ["10.89.0.2"]


def test_stop_ends_open_connections_and_forwards_in_flight(env: Env) -> None:
    env.upstream.mode = "silent"
    with socket.create_connection(env.addr(NET_A), timeout=3) as idle:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(env.addr(NET_A))
            sock.send(encode_query("example.org"))
            time.sleep(0.1)  # the forward is under way
            env.loop.run(env.server.close(), timeout=2)
        assert idle.recv(10) == b""
    assert env.server.serving() == {}


def test_queries_per_second_on_loopback(env: Env) -> None:
    """A sanity measure, printed with -s; the floor only catches a server gone very slow."""
    message = encode_query("web")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.connect(env.addr(NET_A))
        count, started = 0, time.monotonic()
        while time.monotonic() - started < 1.0:
            sock.send(message)
            sock.recv(512)
            count += 1
    rate = count / (time.monotonic() - started)
    print(f"\nembedded DNS: {rate:.0f} A queries/s answered on loopback, one at a time")
    assert rate > 200


def test_only_the_networks_own_subnet_may_ask(env: Env) -> None:
    """The listener is on an address of the host: asked from elsewhere (another network's
    container, another host) it stays silent, over UDP and TCP."""
    elsewhere = env.loop.run(env.server.serve("c" * 64, f"{env.base}.3", 0,
                                              clients="10.89.0.0/24"))  # fmt: skip
    with pytest.raises(TimeoutError):
        ask_udp((f"{env.base}.3", elsewhere), encode_query("web"), timeout=0.5)
    with socket.create_connection((f"{env.base}.3", elsewhere), timeout=3) as sock:
        query = encode_query("web")
        sock.sendall(len(query).to_bytes(2, "big") + query)
        try:
            closed = sock.recv(2) == b""
        except ConnectionResetError:  # closed with the query unread
            closed = True
        assert closed
    own = env.loop.run(env.server.serve(NET_A, f"{env.base}.4", 0,
                                        clients="127.0.0.0/8"))  # fmt: skip
    assert ask_udp((f"{env.base}.4", own), encode_query("web")).addresses == ["10.89.0.2"]
    assert ask_tcp((f"{env.base}.4", own), encode_query("web"))[0].addresses == ["10.89.0.2"]


def test_a_containers_own_resolvers_take_its_forwarded_queries(env: Env) -> None:
    """--dns on a user network: what the network's names do not answer goes to the asking
    container's own resolvers (found by the address it asks from); others' to the host's."""
    own = FakeUpstream()
    udp, tcp, port = env.loop.run(start_upstream(own, f"{env.base}.8"))
    asker = f"{env.base}.5"
    try:
        server = DnsServer(resolve, [f"{env.base}.9:{env.upstream_port}"], timeout=0.5,
                           upstreams_for=lambda net, who: [f"{env.base}.8:{port}"]
                           if (net, who) == (NET_A, asker) else [])  # fmt: skip
        listening = env.loop.run(server.serve(NET_A, f"{env.base}.6", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((asker, 0))
            sock.settimeout(3)
            sock.connect((f"{env.base}.6", listening))
            sock.send(encode_query("example.org"))
            assert decode_answer(sock.recv(65535)).addresses == [UPSTREAM_ADDRESS]
        assert [s[1] for s in own.seen] == ["example.org"]
        assert ask_udp((f"{env.base}.6", listening), encode_query("example.net")).rcode == 0
        assert "example.net" not in [s[1] for s in own.seen]  # from elsewhere: the host's
        assert "example.net" in [s[1] for s in env.upstream.seen]
        env.loop.run(server.close())
    finally:
        env.loop.loop.call_soon_threadsafe(udp.close)
        env.loop.loop.call_soon_threadsafe(tcp.close)


def test_a_links_alias_answers_only_the_container_that_made_the_link(env: Env) -> None:
    asker = f"{env.base}.5"

    def link(network_id: str, name: str, who: str) -> list[str]:
        return ["10.89.0.77"] if (network_id, name, who) == (NET_A, "bar", asker) else []

    server = DnsServer(resolve, [f"{env.base}.9:{env.upstream_port}"], timeout=0.5,
                       resolve_link=link)  # fmt: skip
    listening = env.loop.run(server.serve(NET_A, f"{env.base}.7", 0))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((asker, 0))
            sock.settimeout(3)
            sock.connect((f"{env.base}.7", listening))
            sock.send(encode_query("bar"))
            assert decode_answer(sock.recv(65535)).addresses == ["10.89.0.77"]
        env.upstream.mode = "nxdomain"
        other = ask_udp((f"{env.base}.7", listening), encode_query("bar"))
        assert other.rcode == dnswire.NXDOMAIN and other.addresses == []  # not its name
    finally:
        env.loop.run(server.close())
