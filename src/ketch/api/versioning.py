"""API version negotiation: /v1.24 .. /v1.50 prefixes and unversioned paths."""

from __future__ import annotations

import ketch
from ketch.errors import InvalidArgument


def parse(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise InvalidArgument(f"invalid API version: {version}") from None


def negotiate(requested: str | None) -> str:
    """The version a request speaks; Docker's wording when it is out of range."""
    if requested is None:
        return ketch.API_VERSION
    wanted = parse(requested)
    if wanted < parse(ketch.MIN_API_VERSION):
        raise InvalidArgument(
            f"client version {requested} is too old. Minimum supported API version is "
            f"{ketch.MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    if wanted > parse(ketch.MAX_API_VERSION):
        raise InvalidArgument(
            f"client version {requested} is too new. Maximum supported API version is "
            f"{ketch.MAX_API_VERSION}"
        )
    return requested


def at_least(request_version: str, version: str) -> bool:
    return parse(request_version) >= parse(version)
