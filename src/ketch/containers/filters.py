"""`docker ps` filters: Docker's two JSON shapes, and matching a container against them."""

from __future__ import annotations

from typing import Any

from ketch.containers.record import Container


def normalise_filters(filters: dict[str, Any] | None) -> dict[str, list[str]]:
    """Docker's two filter shapes: {"k": ["v"]} and the old {"k": {"v": true}}."""
    from ketch.errors import InvalidArgument

    if filters is not None and not isinstance(filters, dict):
        raise InvalidArgument("invalid filter")  # dockerd's words for a filter of no shape
    normal: dict[str, list[str]] = {}
    for key, value in (filters or {}).items():
        if isinstance(value, dict):
            normal[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            normal[key] = [str(v) for v in value]
        else:
            normal[key] = [str(value)]
    return normal


CONTAINER_FILTERS = {"id", "name", "label", "status", "exited", "ancestor", "before", "since",
                     "health", "isolation", "network", "publish", "expose", "volume",
                     "is-task"}  # fmt: skip
STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}


def validate(filters: dict[str, list[str]]) -> None:
    """Docker's 400s for a filter it does not know or a status that does not exist."""
    from ketch.errors import InvalidArgument

    for key, values in filters.items():
        if key not in CONTAINER_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "status":
            for value in values:
                if value not in STATUSES:
                    raise InvalidArgument(f"invalid filter 'status={value}'")
        if key == "exited":
            for value in values:
                if not value.lstrip("-").isdigit():
                    raise InvalidArgument(f"invalid filter 'exited={value}'")


def matches_filters(container: Container, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "status" and container.state.get("Status") not in values:
            return False
        if key == "id" and not any(container.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v.lstrip("/") in container.name for v in values):
            return False
        if key == "exited" and (
            container.running or str(container.state.get("ExitCode")) not in values
        ):
            return False
        if key == "label":
            labels = container.config.get("Labels") or {}
            for wanted in values:
                k, sep, v = wanted.partition("=")
                if k not in labels or (sep and labels[k] != v):
                    return False
        if key == "ancestor" and not any(
            v in (container.config.get("Image"), container.image_id) for v in values
        ):
            return False
    return True


def prune_matches(container: Container, filters: dict[str, list[str]], now: float) -> bool:
    """`container prune`'s filters: label (has it), label! (has it not), until (created
    before: a duration before now, Unix seconds or RFC 3339)."""
    from ketch.errors import InvalidArgument
    from ketch.timestamps import parse_docker_time, parse_rfc3339

    labels = container.config.get("Labels") or {}

    def has(wanted: str) -> bool:
        k, sep, v = wanted.partition("=")
        return k in labels and (not sep or labels[k] == v)

    if not all(has(w) for w in filters.get("label", [])):
        return False
    if any(has(w) for w in filters.get("label!", [])):
        return False
    for value in filters.get("until", []):
        try:
            until = parse_docker_time(value, now)
        except ValueError:
            raise InvalidArgument(f"invalid filter 'until={value}'") from None
        if (parse_rfc3339(container.created) or 0.0) >= until:
            return False
    return True
