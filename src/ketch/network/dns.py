"""The embedded DNS server of user-defined networks, as Docker's (UDP and TCP).

ketchd runs one listener per user-defined network, on that network's gateway
address, so the address a query arrives on says which network asked: a name
resolves only among the containers of that network. A names of the network
are answered here (TTL 600, as Docker's); AAAA for them is an empty NOERROR
(no IPv6 on these networks); every other query is relayed to the host's
resolvers byte for byte and their answer relayed back under the asker's id.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import secrets
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from ketch.network import dnswire
from ketch.network.dnswire import MalformedMessage, Query

log = logging.getLogger(__name__)

Resolve = Callable[[str, str], list[str]]
UpstreamsFor = Callable[[str, str], list[str]]  # (network_id, asker) -> its resolvers
ResolveLink = Callable[[str, str, str], list[str]]  # (network_id, name, asker) -> addresses
"""(network id, name lowercased without the trailing dot) -> the name's IPv4 addresses there."""

TTL = 600  # Docker's embedded server's TTL for container names
UPSTREAM_TIMEOUT = 2.0  # per upstream; below glibc's 5 s so the asker sees SERVFAIL, not silence
TCP_IDLE = 10.0  # an idle TCP connection is closed after this many seconds
MAX_FORWARDS = 1024  # queries forwarded at once, as Docker's; past it SERVFAIL, not more sockets
BIND_ATTEMPTS = 20  # port 0: tries to find one port free for both UDP and TCP

RESOLV_CONF = Path("/etc/resolv.conf")
# Where systemd-resolved keeps the real upstreams when /etc/resolv.conf names its stub.
RESOLVED_CONF = Path("/run/systemd/resolve/resolv.conf")


def host_resolvers(path: Path = RESOLV_CONF) -> list[str]:
    """The host's nameservers, loopback ones left out as Docker does.

    A loopback nameserver (systemd-resolved's 127.0.0.53, a local dnsmasq) is
    not one a container could use; when that is all /etc/resolv.conf has and
    systemd-resolved's own list exists, that list is read instead.
    """
    found = _nameservers(path)
    kept = [address for address in found if not _is_loopback(address)]
    if not kept and found and path == RESOLV_CONF and RESOLVED_CONF.exists():
        kept = [a for a in _nameservers(RESOLVED_CONF) if not _is_loopback(a)]
    return kept


def _nameservers(path: Path) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                found.append(str(ipaddress.ip_address(fields[1])))
            except ValueError:
                continue
    return found


def _is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def _endpoint(upstream: str) -> tuple[str, int]:
    """An upstream as (host, port): 1.1.1.1, 1.1.1.1:5353, 2001:db8::1 or [2001:db8::1]:5353."""
    if upstream.startswith("["):
        host, _, port = upstream[1:].partition("]:")
        return host.rstrip("]"), int(port or 53)
    if upstream.count(":") == 1:
        host, port = upstream.split(":")
        return host, int(port)
    return upstream, 53


@dataclass
class _Listener:
    network_id: str
    network_name: str
    forward: bool
    host: str
    port: int
    # Who may ask: the network's own subnet. The gateway is an address of the host, so
    # without this any other network's containers (and any host routing to it) could
    # read this network's names and use the listener as an open forwarder.
    clients: ipaddress.IPv4Network | None = None
    udp: asyncio.DatagramTransport | None = None
    tcp: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)


class DnsServer:
    """Listeners on the networks' gateways, answering from resolve, forwarding to upstreams."""

    def __init__(
        self,
        resolve: Resolve,
        upstreams: list[str],
        *,
        timeout: float = UPSTREAM_TIMEOUT,
        upstreams_for: UpstreamsFor | None = None,
        resolve_link: ResolveLink | None = None,
    ) -> None:
        self._resolve = resolve
        # Names only one container has (its links' aliases), by the address it asks from.
        self._resolve_link = resolve_link
        self.upstreams = list(upstreams)
        # A container's own resolvers (its --dns), by the address it asks from; else ours.
        self._upstreams_for = upstreams_for
        self.timeout = timeout
        self.max_forwards = MAX_FORWARDS
        self._forwarding = 0
        self._listeners: dict[str, _Listener] = {}

    async def serve(
        self,
        network_id: str,
        host: str,
        port: int = 53,
        *,
        network_name: str = "",
        forward: bool = True,
        clients: str = "",
    ) -> int:
        """Listen on host:port (UDP and TCP) for network_id's containers; the port bound.

        port 0 picks one port free for both. network_name lets "db.<network>"
        resolve as "db", as Docker's; forward=False (an --internal network)
        answers SERVFAIL instead of asking the host's resolvers. clients (a
        CIDR, the network's subnet) drops queries from anywhere else, as
        Docker's DNS inside each container is reachable by it alone. Serving a
        network again replaces its listener.
        """
        if network_id in self._listeners:
            await self.stop(network_id)
        allowed = ipaddress.IPv4Network(clients) if clients else None
        listener = _Listener(network_id, network_name.lower(), forward, host, port, allowed)
        loop = asyncio.get_running_loop()
        for attempt in range(BIND_ATTEMPTS if port == 0 else 1):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self, listener), local_addr=(host, port)
            )
            bound = cast(tuple[str, int], udp.get_extra_info("sockname"))[1]
            try:
                tcp = await asyncio.start_server(
                    lambda r, w: self._serve_tcp(listener, r, w), host, bound
                )
            except OSError:
                udp.close()
                if port != 0 or attempt == BIND_ATTEMPTS - 1:
                    raise
                continue
            listener.udp, listener.tcp, listener.port = udp, tcp, bound
            break
        self._listeners[network_id] = listener
        log.debug("dns: serving network %s on %s:%d", network_id[:12], host, listener.port)
        return listener.port

    async def stop(self, network_id: str) -> None:
        """Stop network_id's listener, its connections and the queries it is forwarding."""
        listener = self._listeners.pop(network_id, None)
        if listener is None:
            return
        if listener.udp is not None:
            listener.udp.close()
        if listener.tcp is not None:
            listener.tcp.close()
        for writer in list(listener.writers):
            writer.close()
        for task in list(listener.tasks):
            task.cancel()
        await asyncio.gather(*listener.tasks, return_exceptions=True)
        if listener.tcp is not None:
            await listener.tcp.wait_closed()

    async def close(self) -> None:
        for network_id in list(self._listeners):
            await self.stop(network_id)

    def serving(self) -> dict[str, tuple[str, int]]:
        """Each network served and the address it is served on."""
        return {n: (lst.host, lst.port) for n, lst in self._listeners.items()}

    # Answering.

    def _lookup(self, listener: _Listener, name: str, asker: str = "") -> list[str]:
        name = name.rstrip(".").lower()
        if not name:
            return []
        found: list[str] = []
        if asker and self._resolve_link is not None:
            found = self._resolve_link(listener.network_id, name, asker)
        found = found or self._resolve(listener.network_id, name)
        suffix = "." + listener.network_name
        if not found and listener.network_name and name.endswith(suffix):
            found = self._resolve(listener.network_id, name.removesuffix(suffix))
        addresses = []
        for address in found:
            try:
                addresses.append(str(ipaddress.IPv4Address(address)))
            except ValueError:
                continue
        random.shuffle(addresses)  # round robin between a name's containers, as Docker
        return addresses

    def _answer_here(
        self, listener: _Listener, query: Query, limit: int | None, asker: str = ""
    ) -> bytes | None:
        """The reply to query from the network's names, or None when it goes upstream."""
        if query.opcode != 0:
            return dnswire.reply(query, dnswire.NOTIMP)
        if query.qclass != dnswire.CLASS_IN or query.qtype not in (
            dnswire.TYPE_A,
            dnswire.TYPE_AAAA,
        ):
            return None
        try:
            addresses = self._lookup(listener, query.name, asker)
        except Exception:
            log.exception("dns: resolving %r on network %s", query.name, listener.network_id)
            return dnswire.reply(query, dnswire.SERVFAIL)
        if not addresses:
            return None
        if query.qtype == dnswire.TYPE_AAAA:
            return dnswire.reply(query, dnswire.NOERROR)
        return dnswire.reply(query, dnswire.NOERROR, addresses, TTL, limit)

    async def _answer(
        self, listener: _Listener, query: Query, data: bytes, tcp: bool, asker: str
    ) -> bytes:
        here = self._answer_here(listener, query, None if tcp else dnswire.UDP_LIMIT, asker)
        if here is not None:
            return here
        if not listener.forward:
            return dnswire.reply(query, dnswire.SERVFAIL)
        upstreams = self.upstreams
        if self._upstreams_for is not None:
            upstreams = self._upstreams_for(listener.network_id, asker) or upstreams
        return await self._forward(query, data, tcp, upstreams)

    async def _forward(self, query: Query, data: bytes, tcp: bool, upstreams: list[str]) -> bytes:
        """The first upstream's answer to data, under query's id; SERVFAIL when none answers.

        The query goes out under an id of its own, so an answer forged without
        seeing the query is unlikely to be taken. An upstream's SERVFAIL or
        REFUSED lets the next one try, and is relayed if no other answers.
        """
        if self._forwarding >= self.max_forwards:
            log.warning("dns: more than %d queries forwarded at once", self.max_forwards)
            return dnswire.reply(query, dnswire.SERVFAIL)
        self._forwarding += 1
        try:
            return await self._relay(query, data, tcp, upstreams)
        finally:
            self._forwarding -= 1

    async def _relay(self, query: Query, data: bytes, tcp: bool, upstreams: list[str]) -> bytes:
        ident = secrets.randbits(16)
        outgoing = dnswire.with_id(data, ident)
        failed: bytes | None = None
        for upstream in upstreams:
            try:
                address = _endpoint(upstream)
                exchange = _exchange_tcp if tcp else _exchange_udp
                answer = await asyncio.wait_for(exchange(address, outgoing, ident), self.timeout)
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as error:
                log.debug("dns: upstream %s: %r", upstream, error)
                continue
            if dnswire.rcode_of(answer) in (dnswire.SERVFAIL, dnswire.REFUSED):
                failed = answer
                continue
            return dnswire.with_id(answer, query.id)
        if failed is not None:
            return dnswire.with_id(failed, query.id)
        return dnswire.reply(query, dnswire.SERVFAIL)

    async def _reply_udp(
        self, listener: _Listener, query: Query, data: bytes, addr: tuple[str, int]
    ) -> None:
        answer = await self._answer(listener, query, data, tcp=False, asker=addr[0])
        if listener.udp is not None and not listener.udp.is_closing():
            listener.udp.sendto(answer, addr)

    async def _serve_tcp(
        self, listener: _Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Queries on one connection, each with its 2-byte length, answered in turn."""
        peer = writer.get_extra_info("peername")
        if not _may_ask(listener, peer[0] if peer else ""):
            writer.close()
            return
        listener.writers.add(writer)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                data = await asyncio.wait_for(
                    reader.readexactly(struct.unpack("!H", head)[0]), TCP_IDLE
                )
                try:
                    query = dnswire.parse_query(data)
                except MalformedMessage as error:
                    log.debug("dns: dropped a TCP query: %s", error)
                    break
                answer = await self._answer(
                    listener, query, data, tcp=True, asker=peer[0] if peer else ""
                )
                writer.write(len(answer).to_bytes(2, "big") + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            listener.writers.discard(writer)
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer, listener: _Listener) -> None:
        self.server = server
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not _may_ask(self.listener, addr[0]):
            return
        try:
            query = dnswire.parse_query(data)
        except MalformedMessage as error:
            log.debug("dns: dropped a datagram from %s: %s", addr[0], error)
            return
        # Names of the network are answered at once; only forwarding needs a task.
        here = self.server._answer_here(self.listener, query, dnswire.UDP_LIMIT, addr[0])
        udp = self.listener.udp
        if here is not None:
            if udp is not None:
                udp.sendto(here, addr)
            return
        task = asyncio.ensure_future(self.server._reply_udp(self.listener, query, data, addr))
        self.listener.tasks.add(task)
        task.add_done_callback(self.listener.tasks.discard)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an earlier reply (the asker went away): nothing to do.
        log.debug("dns: %r", exc)


def _may_ask(listener: _Listener, source: str) -> bool:
    if listener.clients is None:
        return True
    try:
        return ipaddress.IPv4Address(source) in listener.clients
    except ValueError:
        return False


async def _exchange_udp(address: tuple[str, int], message: bytes, ident: int) -> bytes:
    """message to address over UDP from a fresh port; the first answer carrying ident."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        # Connected, so the kernel drops datagrams from anyone but the upstream.
        await loop.sock_connect(sock, address)
        await loop.sock_sendall(sock, message)
        while True:
            answer = await loop.sock_recv(sock, 65535)
            if dnswire.is_answer(answer, ident):
                return answer


async def _exchange_tcp(address: tuple[str, int], message: bytes, ident: int) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(len(message).to_bytes(2, "big") + message)
        await writer.drain()
        while True:
            head = await reader.readexactly(2)
            answer = await reader.readexactly(int.from_bytes(head, "big"))
            if dnswire.is_answer(answer, ident):
                return answer
    finally:
        writer.close()
