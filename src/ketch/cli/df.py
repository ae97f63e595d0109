"""`ketch system df`: disk usage by images, containers, volumes and build cache."""

from __future__ import annotations

from ketch.cli import units
from ketch.cli.app import Cli, Entry
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed
from ketch.cli.listing import render_rows

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUMMARY_FORMAT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
SUMMARY_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
IMAGES_FORMAT = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
    "\t{{.UniqueSize}}\t{{.Containers}}"
)
CONTAINERS_FORMAT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}"
    "\t{{.Status}}\t{{.Names}}"
)
VOLUMES_FORMAT = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
CACHE_FORMAT = (
    "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}"
    "\t{{.UsageCount}}\t{{.Shared}}"
)
HEADERS = {
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "Containers": "CONTAINERS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Links": "LINKS",
    "Name": "VOLUME NAME",
    "CacheType": "CACHE TYPE",
    "LastUsedSince": "LAST USED",
    "UsageCount": "USAGE",
    "Shared": "SHARED",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "CreatedSince": "CREATED",
    "Size": "SIZE",
    "Command": "COMMAND",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Names": "NAMES",
    "Image": "IMAGE",
}
IMAGE_HEADERS = dict(HEADERS, ID="IMAGE ID")
CONTAINER_HEADERS = dict(HEADERS, ID="CONTAINER ID")
CACHE_HEADERS = dict(HEADERS, ID="CACHE ID")
ACTIVE_STATES = ("running", "paused", "restarting")


def _share(reclaimable: int, total: int) -> str:
    if total > 0:
        return f"{units.human_size(reclaimable, 4)} ({reclaimable * 100 // total}%)"
    return units.human_size(reclaimable, 4)


def summary_rows(usage: dict[str, Any]) -> list[dict[str, str]]:
    images = usage.get("Images") or []
    containers = usage.get("Containers") or []
    volumes = usage.get("Volumes") or []
    cache = usage.get("BuildCache") or []
    layers = usage.get("LayersSize") or 0
    used = sum(
        i.get("Size", 0) - i.get("SharedSize", 0)
        for i in images
        if i.get("Containers") and i.get("Size", 0) != -1 and i.get("SharedSize", 0) != -1
    )
    rw_total = sum(c.get("SizeRw") or 0 for c in containers)
    rw_idle = sum(c.get("SizeRw") or 0 for c in containers if c.get("State") not in ACTIVE_STATES)
    volume_sizes = [v.get("UsageData") or {} for v in volumes]
    volume_total = sum(d.get("Size", 0) for d in volume_sizes if d.get("Size", -1) != -1)
    volume_idle = sum(
        d.get("Size", 0) for d in volume_sizes if d.get("Size", -1) != -1 and not d.get("RefCount")
    )
    cache_size = sum(c.get("Size", 0) for c in cache if not c.get("Shared"))
    cache_busy = sum(c.get("Size", 0) for c in cache if c.get("InUse") and not c.get("Shared"))
    return [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(sum(1 for i in images if (i.get("Containers") or 0) > 0)),
            "Size": units.human_size(layers, 4),
            "Reclaimable": _share(layers - used, layers),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(sum(1 for c in containers if c.get("State") in ACTIVE_STATES)),
            "Size": units.human_size(rw_total, 4),
            "Reclaimable": _share(rw_idle, rw_total),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(sum(1 for d in volume_sizes if (d.get("RefCount") or 0) > 0)),
            "Size": units.human_size(volume_total, 4),
            "Reclaimable": _share(volume_idle, volume_total),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": str(sum(1 for c in cache if c.get("InUse"))),
            "Size": units.human_size(cache_size, 4),
            "Reclaimable": units.human_size(cache_size - cache_busy, 4),
        },
    ]


def image_row(image: dict[str, Any], truncate: bool) -> dict[str, Any]:
    from ketch.cli.images import image_rows

    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    row = image_rows(dict(image, RepoTags=tags[:1], RepoDigests=[]), truncate)[0]
    size, shared = image.get("Size", 0), image.get("SharedSize", 0)
    row.update(
        SharedSize=units.human_size(shared, 4) if shared != -1 else "N/A",
        UniqueSize=units.human_size(size - shared, 4) if shared != -1 else "N/A",
        Containers=str(image.get("Containers", 0)),
    )
    return row


def container_row(container: dict[str, Any], truncate: bool) -> dict[str, Any]:
    from ketch.cli.ps import container_row as ps_row

    row = ps_row(dict(container, SizeRootFs=0), truncate)
    row["LocalVolumes"] = str(
        sum(1 for m in container.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Name"))
    )
    row["Size"] = units.human_size(container.get("SizeRw") or 0)
    return row


def volume_row(volume: dict[str, Any]) -> dict[str, Any]:
    data = volume.get("UsageData") or {}
    size = data.get("Size", -1)
    return {
        "Name": volume.get("Name", ""),
        "Driver": volume.get("Driver", ""),
        "Links": str(data.get("RefCount", 0)) if data.get("RefCount", -1) != -1 else "N/A",
        "Size": units.human_size(size) if size != -1 else "N/A",
    }


def cache_row(record: dict[str, Any], truncate: bool) -> dict[str, Any]:
    identifier = record.get("ID", "")
    if record.get("InUse"):
        identifier += "*"
    if truncate:
        identifier = identifier[:12]
    return {
        "ID": identifier,
        "CacheType": record.get("Type", ""),
        "Size": units.human_size(record.get("Size", 0)),
        "CreatedSince": units.ago(units.parse_timestamp(record.get("CreatedAt", ""))),
        "LastUsedSince": units.ago(units.parse_timestamp(record.get("LastUsedAt") or "")),
        "UsageCount": str(record.get("UsageCount", 0)),
        "Shared": str(bool(record.get("Shared"))).lower(),
    }


def _section(template: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> str:
    return render_rows(template, rows, headers)


def df(cli: Cli, parsed: Parsed) -> int:
    usage = cli.client.get("/system/df") or {}
    template = parsed.format or "table"
    if not parsed.verbose:
        cli.stdout.write(
            render_rows(
                SUMMARY_FORMAT if template == "table" else template,
                summary_rows(usage),
                SUMMARY_HEADERS,
            )
        )
        return 0
    truncate = template == "table" or template.startswith("table")
    images = [image_row(i, truncate) for i in usage.get("Images") or []]
    containers = [container_row(c, truncate) for c in usage.get("Containers") or []]
    volumes = [volume_row(v) for v in usage.get("Volumes") or []]
    cache = [cache_row(r, truncate) for r in usage.get("BuildCache") or []]
    if template != "table":
        data = {"Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache}
        # one template over the whole answer, with no newline added (docker's verboseWrite)
        cli.stdout.write(render_rows(template, [data], HEADERS).removesuffix("\n"))
        return 0
    cache_size = sum(r.get("Size", 0) for r in usage.get("BuildCache") or [] if not r.get("Shared"))
    out = cli.stdout
    out.write("Images space usage:\n\n" + _section(IMAGES_FORMAT, images, IMAGE_HEADERS))
    out.write(
        "\nContainers space usage:\n\n" + _section(CONTAINERS_FORMAT, containers, CONTAINER_HEADERS)
    )
    out.write("\nLocal Volumes space usage:\n\n" + _section(VOLUMES_FORMAT, volumes, HEADERS))
    out.write(f"\nBuild cache usage: {units.human_size(cache_size, 4)}\n\n")
    out.write(_section(CACHE_FORMAT, cache, CACHE_HEADERS))
    return 0


ENTRIES = {
    "system df": Entry(
        Command(
            "system df",
            "system df [OPTIONS]",
            "Show docker disk usage",
            [
                Flag("format", "format", None, STRING, help="Format output using a Go template"),
                Flag(
                    "verbose", "verbose", "v", BOOL, help="Show detailed information on space usage"
                ),
            ],
            max_args=0,
        ),
        df,
    )
}
