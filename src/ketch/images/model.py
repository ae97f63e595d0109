"""The image as the other parts see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Image:
    id: str  # the config's digest
    repo_tags: list[str]  # familiar: `hello-world:latest`
    repo_digests: list[str]  # familiar: `hello-world@sha256:...`
    config: dict[str, Any]  # the image config JSON
    chain_id: str | None  # the top layer's ChainID; None for an image without layers
    size: int  # bytes of all its unpacked layers
    created: str  # RFC 3339, from the config
    diff_ids: list[str] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    last_tag_time: str | None = None
    parent: str | None = None  # the image it was committed or built on (dockerd's Parent)

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]

    @property
    def container_config(self) -> dict[str, Any]:
        """The image's default container settings (`config` in the image config)."""
        return dict(self.config.get("config") or {})
