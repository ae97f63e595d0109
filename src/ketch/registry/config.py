"""Which URLs serve a registry domain: Docker Hub's host, mirrors, plain-HTTP registries.

The rules are dockerd's: mirrors are used for docker.io only and tried before
the real endpoint; an insecure registry (listed by host[:port] or CIDR, and
loopback always) is tried over HTTPS without verification, then plain HTTP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ketch import errors

DOCKER_HUB_DOMAIN = "docker.io"
DOCKER_HUB_ENDPOINT = "https://registry-1.docker.io"
# Names users and the CLI use for Docker Hub when logging in.
DOCKER_HUB_ALIASES = frozenset(
    {"", "docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"}
)
# dockerd treats loopback as insecure without being told.
DEFAULT_INSECURE_CIDRS = ("127.0.0.0/8", "::1/128")


@dataclass
class RegistryConfig:
    mirrors: list[str] = field(default_factory=list)
    insecure: list[str] = field(default_factory=list)
    # Kept for the documented constructor; credentials arrive per call (`auth=`)
    # as the daemon gets them from X-Registry-Auth, so no file is read here.
    auth_file: Path | None = None
    connect_timeout: float = 30.0
    read_timeout: float = 60.0

    def __post_init__(self) -> None:
        self.mirrors = [normalize_mirror(m) for m in self.mirrors]
        for entry in self.insecure:
            if not entry or "://" in entry:
                raise errors.InvalidArgument(
                    f"insecure registry {entry!r} should not contain '://'"
                )


@dataclass(frozen=True)
class Endpoint:
    """One base URL to try, e.g. `https://registry-1.docker.io` or a mirror's URL."""

    url: str
    mirror: bool = False
    verify_tls: bool = True

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


def normalize_mirror(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.InvalidArgument(f"invalid mirror: unsupported scheme or host in {url!r}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise errors.InvalidArgument(f"invalid mirror: path, query or fragment in {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _split_host(domain: str) -> str:
    """`[::1]:5000` -> `::1`, `localhost:5000` -> `localhost`."""
    if domain.startswith("["):
        return domain[1 : domain.index("]")]
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def _networks(config: RegistryConfig) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = [ipaddress.ip_network(c) for c in DEFAULT_INSECURE_CIDRS]
    for entry in config.insecure:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # a host[:port] entry, matched by name
    return nets


def _in_networks(host: str, config: RegistryConfig) -> bool | None:
    """True/False for an IP literal, None when `host` is a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return any(address in net for net in _networks(config))


async def is_insecure(domain: str, config: RegistryConfig) -> bool:
    """Whether `domain` (host[:port]) may be reached over plain HTTP."""
    host = _split_host(domain)
    if domain in config.insecure or host in config.insecure or host == "localhost":
        return True
    literal = _in_networks(host, config)
    if literal is not None:
        return literal
    # A name is insecure when one of its addresses is, as dockerd resolves it.
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=5
        )
    except (TimeoutError, OSError):
        return False
    return any(_in_networks(str(info[4][0]), config) for info in infos)


async def endpoints_for(
    domain: str, config: RegistryConfig, use_mirrors: bool = True
) -> list[Endpoint]:
    """The URLs to try for `domain`, in order."""
    if domain == DOCKER_HUB_DOMAIN:
        mirrors = []
        if use_mirrors:
            for url in config.mirrors:
                insecure = await is_insecure(urlsplit(url).netloc, config)
                mirrors.append(Endpoint(url, mirror=True, verify_tls=not insecure))
        return [*mirrors, Endpoint(DOCKER_HUB_ENDPOINT)]
    if await is_insecure(domain, config):
        return [Endpoint(f"https://{domain}", verify_tls=False), Endpoint(f"http://{domain}")]
    return [Endpoint(f"https://{domain}")]


def login_domain(server: str) -> str:
    """The registry domain a `docker login <server>` address names."""
    if server.strip() in DOCKER_HUB_ALIASES:
        return DOCKER_HUB_DOMAIN
    text = server.strip()
    if "://" in text:
        text = urlsplit(text).netloc
    text = text.split("/", 1)[0]
    if text in DOCKER_HUB_ALIASES:
        return DOCKER_HUB_DOMAIN
    if not text or not _is_host(text):
        raise errors.InvalidArgument(f"invalid registry address: {server!r}")
    return text


def _is_host(text: str) -> bool:
    """host[:port] a connection can be made to: printable ASCII, DNS's label and name
    lengths (beyond them the name cannot even be encoded to be looked up)."""
    if not text.isascii() or not text.isprintable() or " " in text:
        return False
    if text.startswith("["):
        return True  # an IPv6 address; the connection says whether it is one
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    labels = host.split(".")
    return len(host) <= 253 and all(0 < len(label) <= 63 for label in labels)
