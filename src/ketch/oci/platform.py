"""Platforms (os/architecture/variant) and choosing one from an index as containerd does.

Architectures and variants are normalised first (`x86_64` is `amd64`, `aarch64`
is `arm64`, arm64's default variant is `v8`), then an exact match wins, then the
variants the host can also run, in containerd's order of preference.
"""

from __future__ import annotations

import platform as _platform
import sys
from collections.abc import Sequence
from typing import Any, TypeVar

from ketch import errors

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "i386": "386",
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "armv5l": "arm",
    "armv6l": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
}
_ARCH_IMPLIED_VARIANT = {
    "armhf": "v7",
    "armel": "v6",
    "armv5l": "v5",
    "armv6l": "v6",
    "armv7l": "v7",
    "armv8l": "v8",
}


def normalize(platform: dict[str, Any]) -> dict[str, str]:
    """Lowercased, aliased form; arm64's `v8` and amd64's `v1` read as no variant."""
    os_name = str(platform.get("os", "")).lower()
    raw_arch = str(platform.get("architecture", "")).lower()
    arch = _ARCH_ALIASES.get(raw_arch, raw_arch)
    variant = str(platform.get("variant", "") or _ARCH_IMPLIED_VARIANT.get(raw_arch, "")).lower()
    if arch == "arm64" and variant in ("8", "v8"):
        variant = ""
    elif arch == "amd64" and variant == "v1":
        variant = ""
    elif arch == "arm" and variant in ("", "7"):
        variant = "v7"
    elif arch == "arm" and variant in ("5", "6", "8"):
        variant = "v" + variant
    out = {"os": os_name, "architecture": arch}
    if variant:
        out["variant"] = variant
    return out


def host_platform() -> dict[str, str]:
    """The machine's platform, in image-config form (`variant` only when it has one)."""
    os_name = "linux" if sys.platform.startswith("linux") else sys.platform
    return normalize({"os": os_name, "architecture": _platform.machine()})


def parse(text: str) -> dict[str, str]:
    """`linux/arm64/v8` or `linux/amd64` (the `--platform` flag) -> normalised dict."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise errors.InvalidArgument(
            f'"{text}": unknown operating system or architecture: invalid argument'
        )
    wanted: dict[str, Any] = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        wanted["variant"] = parts[2]
    return normalize(wanted)


def format_platform(platform: dict[str, Any]) -> str:
    norm = normalize(platform)
    return "/".join(filter(None, [norm["os"], norm["architecture"], norm.get("variant")]))


def compatible(wanted: dict[str, Any]) -> list[dict[str, str]]:
    """Platforms a machine of `wanted` runs, best first (containerd's `Only` order)."""
    want = normalize(wanted)
    os_name, arch, variant = want["os"], want["architecture"], want.get("variant", "")
    out = [want]

    def add(a: str, v: str = "") -> None:
        p = {"os": os_name, "architecture": a}
        if v:
            p["variant"] = v
        if p not in out:
            out.append(p)

    if arch == "amd64":
        # x86-64 microarchitecture levels each run the levels below them.
        level = int(variant[1:]) if variant.startswith("v") and variant[1:].isdigit() else 1
        for lower in range(level - 1, 1, -1):
            add("amd64", f"v{lower}")
        add("amd64")
        add("386")
    elif arch == "arm64":
        add("arm64")
        for v in ("v8", "v7", "v6", "v5"):
            add("arm", v)
    elif arch == "arm":
        number = int(variant[1:]) if variant[1:].isdigit() else 7
        for lower in range(number - 1, 4, -1):
            add("arm", f"v{lower}")
    return out


def matches(platform: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """True when an image built for `platform` is exactly the `wanted` one (after normalising)."""
    if not platform:
        return False
    return normalize(platform) == normalize(wanted)


T = TypeVar("T")


def select(
    candidates: Sequence[T], wanted: dict[str, Any] | None = None, key: Any = None
) -> T | None:
    """The best of `candidates` for `wanted` (default: this host), or None.

    `key(candidate) -> platform dict | None`; by default a candidate is a
    descriptor with a `.platform` attribute. Exact match first, then fallbacks;
    among equals, the index's own order decides, as in containerd.
    """
    wanted = wanted or host_platform()
    get = key or (lambda c: getattr(c, "platform", None))
    for acceptable in compatible(wanted):
        for candidate in candidates:
            if matches(get(candidate), acceptable):
                return candidate
    return None
