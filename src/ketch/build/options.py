"""What one build is asked to do: `POST /build`'s query, typed, as api/ reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"  # path inside the context (the docker CLI puts one
    # from outside the context in the tar under a random name and names it here)
    tags: list[str] = field(default_factory=list)
    quiet: bool = False
    no_cache: bool = False
    pull: bool = False
    remove: bool = True  # rm: intermediate containers of successful steps
    force_remove: bool = False  # forcerm: of failed steps too
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    network_mode: str | None = None
    extra_hosts: list[str] = field(default_factory=list)
    shm_size: int | None = None
    memory: int | None = None
    memory_swap: int | None = None
    cpu_shares: int | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    ulimits: list[dict[str, Any]] = field(default_factory=list)
    platform: str | None = None
    cache_from: list[str] = field(default_factory=list)
    # X-Registry-Config: registry host -> auth config, for pulls of base images
    registry_auths: dict[str, dict[str, Any]] = field(default_factory=dict)
