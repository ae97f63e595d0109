"""`ketch volume ...`: docker's volume commands over the Engine API's /volumes."""

from __future__ import annotations

from typing import Any

from ketch import errors
from ketch.cli import units
from ketch.cli.app import Cli, Entry, ExitStatus, daemon_error_text
from ketch.cli.flags import BOOL, LIST, STRING, Command, Flag, Parsed, UsageError
from ketch.cli.groups import group_entry
from ketch.cli.listing import parse_filters, render_rows
from ketch.cli.network import confirm, key_values
from ketch.cli.tables import natural_sorted

DEFAULT_FORMAT = "table {{.Driver}}\t{{.Name}}"
CLUSTER_FORMAT = "table {{.Name}}\t{{.Group}}\t{{.Driver}}\t{{.Availability}}\t{{.Status}}"
RAW_FORMAT = "name: {{.Name}}\ndriver: {{.Driver}}\n"
HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
    "Group": "GROUP",
    "Availability": "AVAILABILITY",
    "Status": "STATUS",
}
ANONYMOUS_WARNING = (
    "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
    "Are you sure you want to continue?"
)
ALL_WARNING = (
    "WARNING! This will remove all local volumes not used by at least one container.\n"
    "Are you sure you want to continue?"
)
# Subcommands in the order docker lists them, with their summaries.
SUBCOMMANDS = {
    "create": "Create a volume",
    "inspect": "Display detailed information on one or more volumes",
    "ls": "List volumes",
    "prune": "Remove unused local volumes",
    "rm": "Remove one or more volumes",
    "update": "Update a volume (cluster volumes only)",
}
# Any of these given makes `volume create` ask for a cluster volume, as docker's does.
CLUSTER_FLAGS = {
    "group", "scope", "sharing", "availability", "access_type", "secret", "limit_bytes",
    "required_bytes", "topology_required", "topology_preferred",
}  # fmt: skip


# -- create ------------------------------------------------------------------------------------


def _bytes_flag(parsed: Parsed, dest: str, name: str) -> int:
    text = getattr(parsed, dest)
    if not text:
        return 0
    try:
        return units.ram_in_bytes(text)
    except ValueError as error:
        raise UsageError(f'invalid argument "{text}" for "--{name}" flag: {error}') from None


def _topology(items: list[str]) -> list[dict[str, Any]]:
    """Each `segment=value,segment=value` is one topology."""
    return [
        {"Segments": {part.partition("=")[0]: part.partition("=")[2] for part in item.split(",")}}
        for item in items
    ]


def cluster_spec(parsed: Parsed) -> dict[str, Any]:
    """volume.ClusterVolumeSpec as docker's `volume create` fills it from its cluster flags."""
    access: dict[str, Any] = {"Scope": parsed.scope, "Sharing": parsed.sharing}
    if parsed.access_type == "mount":
        access["MountVolume"] = {}
    elif parsed.access_type == "block":
        access["BlockVolume"] = {}
    spec: dict[str, Any] = {}
    if parsed.group:
        spec["Group"] = parsed.group
    spec["AccessMode"] = access
    secrets = sorted(key_values(parsed.secret).items())
    if secrets:
        spec["Secrets"] = [{"Key": key, "Secret": secret} for key, secret in secrets]
    topology: dict[str, Any] = {}
    if parsed.topology_required:
        topology["Requisite"] = _topology(parsed.topology_required)
    if parsed.topology_preferred:
        topology["Preferred"] = _topology(parsed.topology_preferred)
    spec["AccessibilityRequirements"] = topology
    spec["CapacityRange"] = {
        "RequiredBytes": _bytes_flag(parsed, "required_bytes", "required-bytes"),
        "LimitBytes": _bytes_flag(parsed, "limit_bytes", "limit-bytes"),
    }
    spec["Availability"] = parsed.availability
    return spec


def create_body(parsed: Parsed) -> dict[str, Any]:
    """POST /volumes/create's body, with the omitempty fields of volume.CreateOptions."""
    if parsed.name and parsed.args:
        raise ExitStatus(
            1,
            "conflicting options: cannot specify a volume-name through both --name and as a "
            "positional arg",
        )
    name = parsed.args[0] if parsed.args else parsed.name or ""
    body: dict[str, Any] = {}
    if CLUSTER_FLAGS & parsed.changed:
        body["ClusterVolumeSpec"] = cluster_spec(parsed)
    body["Driver"] = parsed.driver
    options = key_values(parsed.opt)
    if options:
        body["DriverOpts"] = options
    labels = key_values(parsed.label)
    if labels:
        body["Labels"] = labels
    if name:
        body["Name"] = name
    return body


def create(cli: Cli, parsed: Parsed) -> int:
    volume = cli.client.post("/volumes/create", None, create_body(parsed)) or {}
    cli.out(volume.get("Name", ""))
    return 0


# -- ls ----------------------------------------------------------------------------------------


def volume_row(volume: dict[str, Any]) -> dict[str, Any]:
    """The fields docker's volume formatter offers `--format`."""
    usage = volume.get("UsageData")
    cluster = volume.get("ClusterVolume") or None
    labels = volume.get("Labels") or {}
    info = (cluster or {}).get("Info") or {}
    spec = (cluster or {}).get("Spec") or {}
    return {
        "Availability": spec.get("Availability", "") if cluster else "N/A",
        "Driver": volume.get("Driver", ""),
        "Group": spec.get("Group", "") if cluster else "N/A",
        "Labels": ",".join(f"{key}={value}" for key, value in labels.items()),
        "Links": str(usage.get("RefCount", 0)) if usage else "N/A",
        "Mountpoint": volume.get("Mountpoint", ""),
        "Name": volume.get("Name", ""),
        "Scope": volume.get("Scope", ""),
        "Size": units.human_size(usage.get("Size", 0), 4) if usage else "N/A",
        "Status": _cluster_status(info) if cluster else "N/A",
    }


def _cluster_status(info: dict[str, Any]) -> str:
    published = info.get("PublishStatus") or []
    if not info.get("VolumeID"):
        return "pending creation"
    if any(status.get("State") != "published" for status in published):
        return "in use (1 node)" if len(published) == 1 else f"in use ({len(published)} nodes)"
    return "created"


def list_volumes(cli: Cli, parsed: Parsed) -> int:
    params: dict[str, Any] = {}
    if parsed.filter:
        params["filters"] = parse_filters(parsed.filter)
    answer = cli.client.get("/volumes", params or None) or {}
    volumes = answer.get("Volumes") or []
    template = parsed.format or "table"
    if parsed.cluster:
        volumes = [volume for volume in volumes if volume.get("ClusterVolume")]
        if template == "table":
            template = CLUSTER_FORMAT
    if template == "table":
        template = "{{.Name}}" if parsed.quiet else DEFAULT_FORMAT
    elif template == "raw":
        template = "name: {{.Name}}" if parsed.quiet else RAW_FORMAT
    by_name: dict[str, list[dict[str, Any]]] = {}
    for volume in volumes:
        by_name.setdefault(volume.get("Name", ""), []).append(volume)
    ordered = [v for name in natural_sorted(list(by_name)) for v in by_name[name]]
    cli.stdout.write(render_rows(template, [volume_row(v) for v in ordered], HEADERS))
    return 0


# -- inspect, rm, update, prune ----------------------------------------------------------------


def inspect(cli: Cli, parsed: Parsed) -> int:
    from ketch.cli.inspect import inspect_each

    paths = [f"/volumes/{name}" for name in parsed.args]
    return inspect_each(cli, parsed.format, paths, typed=typed_volume, marshalled=True)


def typed_volume(volume: dict[str, Any]) -> dict[str, Any]:
    """volume.Volume's maps, which a template shows as `map[]` when null."""
    return {**volume, **{key: volume.get(key) or {} for key in ("Labels", "Options", "Status")}}


def remove(cli: Cli, parsed: Parsed) -> int:
    failures = []
    params = {"force": True} if parsed.force else None
    for name in parsed.args:
        try:
            cli.client.request("DELETE", f"/volumes/{name}", params=params).read()
        except errors.KetchError as error:
            failures.append(daemon_error_text(error))
            continue
        cli.out(name)
    if failures:
        raise ExitStatus(1, "\n".join(failures))
    return 0


def update(cli: Cli, parsed: Parsed) -> int:
    volume = cli.client.get(f"/volumes/{parsed.args[0]}") or {}
    if not volume.get("ClusterVolume"):
        raise ExitStatus(1, "can only update cluster volumes")
    raise ExitStatus(1, "ketch has no cluster volumes to update")


def prune(cli: Cli, parsed: Parsed) -> int:
    filters = parse_filters(parsed.filter)
    warning = ANONYMOUS_WARNING
    if parsed.all:
        if "all" in filters:
            raise ExitStatus(1, "conflicting options: cannot specify both --all and --filter all=1")
        filters["all"] = ["true"]
        warning = ALL_WARNING
    if not parsed.force and not confirm(cli, warning):
        return 0
    from ketch.cli.prune import prune_volumes

    reclaimed, output = prune_volumes(cli, filters, bool(parsed.all))
    if output:
        cli.out(output)
    cli.out(f"Total reclaimed space: {units.human_size(reclaimed, 4)}")
    return 0


# -- the group ---------------------------------------------------------------------------------


ENTRIES = {
    "volume": group_entry("volume", "Manage volumes", SUBCOMMANDS, "volume COMMAND"),
    "volume create": Entry(
        Command(
            "volume create",
            "volume create [OPTIONS] [VOLUME]",
            "Create a volume",
            [
                Flag(
                    "availability",
                    "availability",
                    None,
                    STRING,
                    "active",
                    help='Cluster Volume availability ("active", "pause", "drain")',
                ),
                Flag("driver", "driver", "d", STRING, "local", help="Specify volume driver name"),
                Flag("group", "group", None, STRING, help="Cluster Volume group (cluster volumes)"),
                Flag("label", "label", None, LIST, help="Set metadata for a volume"),
                Flag(
                    "limit_bytes",
                    "limit-bytes",
                    None,
                    STRING,
                    help="Minimum size of the Cluster Volume in bytes",
                    metavar="bytes",
                ),
                Flag("name", "name", None, STRING),  # hidden in docker: the argument's old form
                Flag("opt", "opt", "o", LIST, help="Set driver specific options", metavar="map"),
                Flag(
                    "required_bytes",
                    "required-bytes",
                    None,
                    STRING,
                    help="Maximum size of the Cluster Volume in bytes",
                    metavar="bytes",
                ),
                Flag(
                    "scope",
                    "scope",
                    None,
                    STRING,
                    "single",
                    help='Cluster Volume access scope ("single", "multi")',
                ),
                Flag("secret", "secret", None, LIST, help="Cluster Volume secrets", metavar="map"),
                Flag(
                    "sharing",
                    "sharing",
                    None,
                    STRING,
                    "none",
                    help='Cluster Volume access sharing ("none", "readonly", "onewriter", "all")',
                ),
                Flag(
                    "topology_preferred",
                    "topology-preferred",
                    None,
                    LIST,
                    help="A topology that the Cluster Volume would be preferred in",
                ),
                Flag(
                    "topology_required",
                    "topology-required",
                    None,
                    LIST,
                    help="A topology that the Cluster Volume must be accessible from",
                ),
                Flag(
                    "access_type",
                    "type",
                    None,
                    STRING,
                    "block",
                    help='Cluster Volume access type ("mount", "block")',
                ),
            ],
            max_args=1,
        ),
        create,
    ),
    "volume ls": Entry(
        Command(
            "volume ls",
            "volume ls [OPTIONS]",
            "List volumes",
            [
                Flag(
                    "cluster",
                    "cluster",
                    None,
                    BOOL,
                    help="Display only cluster volumes, and use cluster volume list formatting",
                ),
                Flag(
                    "filter",
                    "filter",
                    "f",
                    LIST,
                    help='Provide filter values (e.g. "dangling=true")',
                    metavar="filter",
                ),
                Flag(
                    "format", "format", None, STRING, help="Format output using a custom template"
                ),
                Flag("quiet", "quiet", "q", BOOL, help="Only display volume names"),
            ],
            max_args=0,
        ),
        list_volumes,
    ),
    "volume inspect": Entry(
        Command(
            "volume inspect",
            "volume inspect [OPTIONS] VOLUME [VOLUME...]",
            "Display detailed information on one or more volumes",
            [Flag("format", "format", "f", STRING, help="Format output using a custom template")],
            min_args=1,
        ),
        inspect,
    ),
    "volume rm": Entry(
        Command(
            "volume rm",
            "volume rm [OPTIONS] VOLUME [VOLUME...]",
            "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
            [Flag("force", "force", "f", BOOL, help="Force the removal of one or more volumes")],
            min_args=1,
        ),
        remove,
    ),
    "volume update": Entry(
        Command(
            "volume update",
            "volume update [OPTIONS] [VOLUME]",
            "Update a volume (cluster volumes only)",
            [
                Flag(
                    "availability",
                    "availability",
                    None,
                    STRING,
                    "active",
                    help='Cluster Volume availability ("active", "pause", "drain")',
                )
            ],
            min_args=1,
            max_args=1,
        ),
        update,
    ),
    "volume prune": Entry(
        Command(
            "volume prune",
            "volume prune [OPTIONS]",
            "Remove unused local volumes",
            [
                Flag(
                    "all",
                    "all",
                    "a",
                    BOOL,
                    help="Remove all unused volumes, not just anonymous ones",
                ),
                Flag(
                    "filter",
                    "filter",
                    None,
                    LIST,
                    help='Provide filter values (e.g. "label=<label>")',
                    metavar="filter",
                ),
                Flag("force", "force", "f", BOOL, help="Do not prompt for confirmation"),
            ],
            max_args=0,
        ),
        prune,
    ),
}
