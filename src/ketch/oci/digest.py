"""Content digests as the OCI image-spec defines them: `<algorithm>:<encoded>`."""

from __future__ import annotations

import hashlib
import re

from ketch import errors

# Hex lengths of the algorithms the image-spec registers; anything else is refused
# because a digest we cannot recompute is a digest we cannot verify.
_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_RE = re.compile(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def validate(digest: object) -> str:
    """Return `digest` unchanged if well formed, else raise InvalidArgument.

    Any value is accepted, so a parsed JSON field can be checked as it came."""
    if not isinstance(digest, str) or (match := _DIGEST_RE.fullmatch(digest)) is None:
        raise errors.InvalidArgument(f"invalid digest format: {digest!r}")
    algorithm, encoded = match.groups()
    length = _HEX_LENGTHS.get(algorithm)
    if length is None:
        raise errors.InvalidArgument(f"unsupported digest algorithm: {digest}")
    if len(encoded) != length or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise errors.InvalidArgument(f"invalid checksum digest length or format: {digest}")
    return digest


def algorithm(digest: str) -> str:
    return validate(digest).split(":", 1)[0]


def encoded(digest: str) -> str:
    """The hex part, which is what names a blob on disk."""
    return validate(digest).split(":", 1)[1]


def hasher(digest: str) -> hashlib._Hash:
    """A fresh hash object of the digest's algorithm, to verify a stream against it."""
    return hashlib.new(algorithm(digest))
