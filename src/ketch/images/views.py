"""An image in the shapes of the Engine API: inspect, summary, history."""

from __future__ import annotations

from typing import Any

from ketch.images.model import Image
from ketch.timestamps import ZERO_TIME, parse_rfc3339

# Docker's image inspect fills every container-config field, zero values included.
CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}

# Go's zero time in unix seconds: what Docker reports as an image's Created when it has none.
ZERO_UNIX = -62135596800


def unix_time(rfc3339: str | None) -> int:
    if not rfc3339:
        return 0
    try:
        seconds = parse_rfc3339(rfc3339)
    except ValueError:
        return 0
    return ZERO_UNIX if seconds is None else int(seconds)


def inspect_view(image: Image, graph_driver: dict[str, Any] | None = None) -> dict[str, Any]:
    """`GET /images/{name}/json`."""
    config = image.config
    view: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Parent": image.parent or "",
        "Comment": config.get("comment", ""),
        "Created": image.created,
        # Legacy fields (moby's V1Image): the API shows them to clients below v1.45.
        "Container": config.get("container", ""),
        "ContainerConfig": {**CONFIG_DEFAULTS, **(config.get("container_config") or {})},
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": {**CONFIG_DEFAULTS, **(config.get("config") or {})},
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": image.size,
        "GraphDriver": graph_driver or {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers", "Layers": list(image.diff_ids)},
        "Metadata": {"LastTagTime": image.last_tag_time or ZERO_TIME},
    }
    if config.get("variant"):
        view["Variant"] = config["variant"]
    if config.get("os.version"):
        view["OsVersion"] = config["os.version"]
    return view


def summary_view(image: Image, containers: int = -1) -> dict[str, Any]:
    """One entry of `GET /images/json`."""
    labels = (image.config.get("config") or {}).get("Labels") or {}
    return {
        "Id": image.id,
        "ParentId": image.parent or "",
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Created": unix_time(image.created),
        "Size": image.size,
        "SharedSize": -1,
        "Labels": labels,
        "Containers": containers,
    }


def history_view(image: Image, layer_sizes: list[int]) -> list[dict[str, Any]]:
    """`GET /images/{name}/history`: newest first; only the top entry has the ID."""
    entries = image.config.get("history") or []
    sizes = iter(layer_sizes)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        size = 0 if entry.get("empty_layer") else next(sizes, 0)
        rows.append(
            {
                "Id": "<missing>",
                "Created": unix_time(entry.get("created")),
                "CreatedBy": entry.get("created_by", ""),
                "Tags": None,
                "Size": size,
                "Comment": entry.get("comment", ""),
            }
        )
    if not rows:  # an image without history still has itself
        rows.append(
            {
                "Id": "<missing>",
                "Created": unix_time(image.created),
                "CreatedBy": "",
                "Tags": None,
                "Size": image.size,
                "Comment": "",
            }
        )
    rows.reverse()
    rows[0]["Id"] = image.id
    rows[0]["Tags"] = list(image.repo_tags) or None
    return rows
