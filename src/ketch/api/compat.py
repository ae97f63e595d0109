"""What each API version shows: responses shaped for the version a client asked for.

The views give the newest shape plus the legacy fields the data has; here, as
moby's routers do, the fields a version did not have yet are taken away and
the ones it still had are put back (moby's daemon/server/router/image and
container routes). Old clients read the old fields: docker-compose 1.29
speaks v1.25..v1.38 and reads an image's `ContainerConfig`.
"""

from __future__ import annotations

import copy
from typing import Any

from ketch.api.versioning import at_least
from ketch.images.views import CONFIG_DEFAULTS as LEGACY_IMAGE_CONFIG_DEFAULTS

# Image Config fields that v1.50 shows even when empty; older versions show them all.
IMAGE_CONFIG_SHOWN_AT_1_50 = (
    "Cmd", "Entrypoint", "Env", "Labels", "OnBuild", "User", "Volumes", "WorkingDir",
)  # fmt: skip
NOT_USER_NETWORKS = ("bridge", "host", "none", "default")


def image_inspect(view: dict[str, Any], version: str) -> dict[str, Any]:
    """`GET /images/{name}/json`: `view` has `Container` and `ContainerConfig`."""
    shaped = dict(view)
    config = dict(shaped.get("Config") or {})
    if at_least(version, "1.50"):
        # Zero values are left out since v1.50, but for the fields it still always showed.
        config = {k: v for k, v in config.items() if v not in (None, "", False, [], {})}
        for name in IMAGE_CONFIG_SHOWN_AT_1_50:
            config.setdefault(name, LEGACY_IMAGE_CONFIG_DEFAULTS[name])
    else:
        config = {**LEGACY_IMAGE_CONFIG_DEFAULTS, **config}
    shaped["Config"] = config
    if at_least(version, "1.45"):
        shaped.pop("Container", None)
        shaped.pop("ContainerConfig", None)
    if not at_least(version, "1.44"):
        shaped["VirtualSize"] = shaped.get("Size", 0)
    return shaped


def image_summaries(rows: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """`GET /images/json`: `<none>` names below v1.43, VirtualSize below v1.44."""
    shaped = []
    for row in rows:
        row = dict(row)
        if not at_least(version, "1.43") and not row["RepoTags"] and not row["RepoDigests"]:
            row["RepoTags"] = ["<none>:<none>"]
            row["RepoDigests"] = ["<none>@<none>"]
        if not at_least(version, "1.44"):
            row["VirtualSize"] = row.get("Size", 0)
        shaped.append(row)
    return shaped


def container_inspect(view: dict[str, Any], version: str) -> dict[str, Any]:
    """`GET /containers/{id}/json`: below v1.45 an endpoint on a user network, once joined,
    lists the container's short ID and hostname among its aliases (DNSNames since)."""
    if at_least(version, "1.45"):
        return view
    shaped = copy.deepcopy(view)
    short_id = shaped.get("Id", "")[:12]
    hostname = (shaped.get("Config") or {}).get("Hostname", "")
    networks = (shaped.get("NetworkSettings") or {}).get("Networks") or {}
    for name, endpoint in networks.items():
        if name in NOT_USER_NETWORKS or name.startswith("container:") or endpoint is None:
            continue
        if not endpoint.get("EndpointID"):
            # Not joined yet (a container not started): dockerd adds them when it joins, and
            # docker-compose reconnects a one-off container whose aliases lack its ID.
            continue
        aliases = list(endpoint.get("Aliases") or [])
        for extra in (short_id, hostname):
            if extra and extra not in aliases:
                aliases.append(extra)
        endpoint["Aliases"] = aliases
    return shaped
