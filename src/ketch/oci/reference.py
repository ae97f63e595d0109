"""Image references, normalised exactly as Docker normalises them.

`hello-world` means `docker.io/library/hello-world:latest`; the grammar is the
one of the distribution project's reference package, so what Docker accepts
or refuses, ketch accepts or refuses with the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ketch import errors

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"  # Go's \w: ASCII only
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_ID_RE = re.compile(r"^(?:sha256:[a-f0-9]{64}|(?:sha256:)?[a-f0-9]{12,64})$")
_HEX_RE = {"sha256": 64, "sha384": 96, "sha512": 128}

INVALID_FORMAT = "invalid reference format"


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`docker.io/library/hello-world`: the repository, fully qualified."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as Docker prints it: `hello-world`, `user/app`, `localhost:5000/x`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in self.path[8:]:
            return self.path[len(OFFICIAL_REPO_PREFIX) :]
        return self.path

    def familiar(self) -> str:
        """`hello-world:latest`, `hello-world@sha256:...`, as Docker prints a reference."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def locator(self) -> str:
        """What names the manifest on the registry: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def _suffix(self) -> str:
        suffix = f":{self.tag}" if self.tag else ""
        return suffix + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def _split_docker_domain(text: str) -> tuple[str, str]:
    slash = text.find("/")
    first = text[:slash]
    # The first component is a domain only if it looks like one; `user/app` is on Docker Hub.
    if slash == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, text[slash + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _parse_strict(text: str) -> tuple[str, str | None, str | None]:
    match = _REFERENCE_RE.fullmatch(text)
    if match is None:
        if not text:
            raise errors.InvalidArgument(INVALID_FORMAT)
        if _REFERENCE_RE.fullmatch(text.lower()):
            raise errors.InvalidArgument(f"{INVALID_FORMAT}: repository name must be lowercase")
        raise errors.InvalidArgument(INVALID_FORMAT)
    name, tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise errors.InvalidArgument(
            f"{INVALID_FORMAT}: repository name must not be more than "
            f"{NAME_TOTAL_LENGTH_MAX} characters"
        )
    if digest is not None:
        algorithm, hex_part = digest.split(":", 1)
        if _HEX_RE.get(algorithm) is None:
            raise errors.InvalidArgument(f"{INVALID_FORMAT}: unsupported digest algorithm")
        if len(hex_part) != _HEX_RE[algorithm] or hex_part != hex_part.lower():
            raise errors.InvalidArgument(
                f"{INVALID_FORMAT}: invalid checksum digest length or format"
            )
    return name, tag, digest


def parse(text: str, default_tag: bool = True) -> Reference:
    """Normalise `text` as `docker pull` does; `latest` is added unless a tag or digest is given.

    With `default_tag=False` a bare name stays without tag (for `docker pull -a`, filters).
    """
    if not isinstance(text, str):
        raise errors.InvalidArgument(INVALID_FORMAT)
    if _IDENTIFIER_RE.fullmatch(text):
        raise errors.InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    remote_name = remainder.split(":", 1)[0] if ":" in remainder else remainder
    remote_name = remote_name.split("@", 1)[0]
    if remote_name.lower() != remote_name:
        raise errors.InvalidArgument(
            f"{INVALID_FORMAT}: repository name ({remote_name}) must be lowercase"
        )
    name, tag, digest = _parse_strict(f"{domain}/{remainder}")
    path = name[len(domain) + 1 :]
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def parse_repository(text: str) -> Reference:
    """A repository name alone (`docker tag`'s target repo, `docker push` without tag)."""
    return parse(text, default_tag=False)


def is_digest_id(text: str) -> bool:
    """True for an image ID (`sha256:<64hex>`) or a prefix of one of 12+ hex digits."""
    return bool(_DIGEST_ID_RE.fullmatch(text))


def familiar(text: str) -> str:
    """`docker.io/library/redis:7` -> `redis:7`."""
    return parse(text, default_tag=False).familiar()
