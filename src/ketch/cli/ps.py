"""`ketch ps`: GET /containers/json drawn as docker draws it."""

from __future__ import annotations

from ketch.cli import units
from ketch.cli.app import Cli, Entry
from ketch.cli.flags import BOOL, INT, LIST, STRING, Command, Flag, Parsed
from ketch.cli.listing import parse_filters, render_rows
from ketch.cli.tables import ellipsis, join_host_port, short_id
from ketch.gostrings import quote as go_quote

# typing is kept off the import path (it costs several ms per command);
# annotations are strings here, so the names are needed by checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "State": "STATE",
    "LocalVolumes": "LOCAL VOLUMES",
}


def format_ports(ports: list[dict[str, Any]] | None) -> str:
    """The PORTS column as docker's formatter.DisplayablePorts writes it: runs of consecutive
    ports published on the same port number collapse ("0.0.0.0:7000-7001->7000-7001/tcp"),
    as do unpublished ones ("90-91/tcp"); other mappings are listed one by one, last."""
    ordered = sorted(
        ports or [],
        key=lambda p: (
            p.get("PrivatePort", 0),
            p.get("IP", ""),
            p.get("PublicPort", 0),
            p.get("Type", ""),
        ),
    )
    groups: dict[str, list[int]] = {}  # key -> [first, last], in the order keys were seen
    result: list[str] = []
    mappings: list[str] = []
    for port in ordered:
        current = port.get("PrivatePort", 0)
        kind = port.get("Type", "")
        key = kind
        ip = port.get("IP", "")
        if ip:
            public = port.get("PublicPort", 0)
            if public != current:
                mappings.append(f"{join_host_port(ip, str(public))}->{current}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [current, current]
        elif current == group[1] + 1:
            group[1] = current
        else:
            result.append(_port_group(key, group[0], group[1]))
            # Re-inserted keys keep their first place, as Go's list of keys does.
            groups[key] = [current, current]
    result.extend(_port_group(key, first, last) for key, (first, last) in groups.items())
    return ", ".join(result + mappings)


def _port_group(key: str, first: int, last: int) -> str:
    parts = key.split("/")
    ip, kind = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{join_host_port(ip, group)}->{group}"
    return f"{group}/{kind}"


def container_row(
    container: dict[str, Any], truncate: bool, now: float | None = None
) -> dict[str, Any]:
    """The fields docker's container formatter offers to `--format`."""
    moment = None
    if now is not None:
        from datetime import UTC, datetime

        moment = datetime.fromtimestamp(now, UTC)
    names = [name.lstrip("/") for name in container.get("Names") or []]
    # Links show up as /other/alias; docker lists only the container's own names.
    own_names = [name for name in names if "/" not in name]
    image = container.get("Image", "")
    if truncate and image.startswith("sha256:"):
        image = short_id(image)
    command = container.get("Command", "")
    if truncate:
        command = ellipsis(command, 20)
    created = container.get("Created", 0)
    labels = container.get("Labels") or {}
    size = ""
    if container.get("SizeRw") is not None:
        size = units.human_size(container.get("SizeRw") or 0)
        if container.get("SizeRootFs"):
            size += f" (virtual {units.human_size(container['SizeRootFs'])})"
    return {
        "ID": short_id(container.get("Id", "")) if truncate else container.get("Id", ""),
        "Image": image,
        "Command": go_quote(command),
        "CreatedAt": _created_at(created),
        "RunningFor": units.ago(created, moment),
        "Status": container.get("Status", ""),
        "State": container.get("State", ""),
        "Ports": format_ports(container.get("Ports")),
        "Names": ",".join(own_names),
        "Labels": ",".join(f"{key}={value}" for key, value in labels.items()),
        "Size": size,
        "Mounts": ",".join(
            m.get("Name") or m.get("Source", "") for m in container.get("Mounts") or []
        ),
        "LocalVolumes": str(
            sum(1 for m in container.get("Mounts") or [] if m.get("Driver") == "local")
        ),
        # docker's is the image manifest's platform: an object in JSON, os/arch in text
        "Platform": _platform(container),
        "Networks": ",".join(
            sorted(((container.get("NetworkSettings") or {}).get("Networks") or {}).keys())
        ),
    }


class Platform(dict):  # type: ignore[type-arg]
    """ocispec.Platform as docker's ps shows it: `{{.Platform}}` is os/arch[/variant]."""

    def go_string(self) -> str:
        parts = [self.get("os", ""), self.get("architecture", ""), self.get("variant", "")]
        return "/".join(part for part in parts if part)


def _platform(container: dict[str, Any]) -> Platform | None:
    descriptor = container.get("ImageManifestDescriptor") or {}
    platform = descriptor.get("platform")
    return Platform(platform) if platform else None


def wants_size(template: str) -> bool:
    """Does the template show `.Size` (docker then asks the daemon for sizes)? Rendered
    once over a row whose only non-empty field is Size."""
    marker = "size-probe-7f3a"
    probe = {key: "" for key in HEADERS} | {"Size": marker, "Platform": None}
    try:
        return marker in render_rows(template, [probe], HEADERS)
    except Exception:  # a bad template is reported when the real rows are rendered
        return False


def _created_at(created: int) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created))


def ps(cli: Cli, parsed: Parsed) -> int:
    params: dict[str, Any] = {"all": parsed.all or None, "size": parsed.size or None}
    if parsed.latest:
        params["limit"] = 1
    elif parsed.last is not None and parsed.last != -1:
        params["limit"] = parsed.last
    template = parsed.format or DEFAULT_FORMAT
    if not parsed.quiet and "size" not in parsed.changed and wants_size(template):
        params["size"] = True
    if params.get("limit"):
        # The most recently created containers, running or not, as the API defines limit.
        params["all"] = True
    if parsed.filter:
        params["filters"] = parse_filters(parsed.filter)
    containers = cli.client.get("/containers/json", params) or []
    truncate = not parsed.no_trunc
    if parsed.quiet:
        for container in containers:
            cli.out(short_id(container["Id"]) if truncate else container["Id"])
        return 0
    template = parsed.format or DEFAULT_FORMAT
    if template == "table":
        template = DEFAULT_FORMAT
    if parsed.size and template == DEFAULT_FORMAT:
        template += "\t{{.Size}}"
    rows = [container_row(container, truncate) for container in containers]
    cli.stdout.write(render_rows(template, rows, HEADERS))
    return 0


ENTRIES = {
    "ps": Entry(
        Command(
            "ps",
            "ps [OPTIONS]",
            "List containers",
            [
                Flag(
                    "all", "all", "a", BOOL, help="Show all containers (default shows just running)"
                ),
                Flag(
                    "filter", "filter", "f", LIST, help="Filter output based on conditions provided"
                ),
                Flag("format", "format", None, STRING, help="Format output using a Go template"),
                Flag("last", "last", "n", INT, -1, help="Show n last created containers"),
                Flag("latest", "latest", "l", BOOL, help="Show the latest created container"),
                Flag("no_trunc", "no-trunc", None, BOOL, help="Don't truncate output"),
                Flag("quiet", "quiet", "q", BOOL, help="Only display container IDs"),
                Flag("size", "size", "s", BOOL, help="Display total file sizes"),
            ],
            max_args=0,
        ),
        ps,
    )
}
