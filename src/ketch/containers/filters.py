"""`docker ps` filters: Docker's two JSON shapes, and matching a container against them."""

from __future__ import annotations

from typing import Any

from ketch.containers.record import Container


def normalise_filters(filters: dict[str, Any] | None) -> dict[str, list[str]]:
    """Docker's two filter shapes: {"k": ["v"]} and the old {"k": {"v": true}}."""
    normal: dict[str, list[str]] = {}
    for key, value in (filters or {}).items():
        if isinstance(value, dict):
            normal[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            normal[key] = [str(v) for v in value]
        else:
            normal[key] = [str(value)]
    return normal


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
