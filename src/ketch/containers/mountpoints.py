"""A container's mount points in Docker's model, parsed from HostConfig.Binds,
HostConfig.Mounts, HostConfig.VolumesFrom and Config.Volumes (pure: nothing is made here;
volservice.py gives volumes their names and sources, bundle.py makes runtime mounts).

A mount point is a dict as config.v2.json keeps it: Type (bind|volume|tmpfs), Name,
Source, Destination, Driver, Mode, RW, Propagation, CopyData, and Spec (the
HostConfig.Mounts entry it came from, or the one a bind string means).
"""

from __future__ import annotations

import posixpath
from typing import Any

from ketch.errors import InvalidArgument, NotImplementedYet

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
DEFAULT_PROPAGATION = "rprivate"
LABEL_MODES = ("z", "Z")
ACCESS_MODES = ("rw", "ro")
COPY_MODES = ("nocopy",)

MountPoint = dict[str, Any]


def _invalid_spec(spec: str) -> InvalidArgument:
    return InvalidArgument(f"invalid volume specification: '{spec}'")


def valid_mode(mode: str) -> bool:
    """dockerd's linuxValidMountMode: at most one of each kind, nothing else."""
    if not mode:
        return True
    counts = {"access": 0, "label": 0, "propagation": 0, "copy": 0}
    for word in mode.split(","):
        if word in ACCESS_MODES:
            counts["access"] += 1
        elif word in LABEL_MODES:
            counts["label"] += 1
        elif word in PROPAGATIONS:
            counts["propagation"] += 1
        elif word in COPY_MODES:
            counts["copy"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def _mount_error(kind: str, message: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{kind}": {message}')


def _check_target(kind: str, target: str, spec: str | None = None) -> str:
    if not target:
        raise _mount_error(kind, "field Target must not be empty")
    if not target.startswith("/"):
        error = _mount_error(kind, f"invalid mount path: '{target}' mount path must be absolute")
        if spec is not None:
            raise InvalidArgument(f"invalid volume specification: '{spec}': {error.message}")
        raise error
    cleaned = posixpath.normpath(target)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if cleaned == "/":
        raise InvalidArgument("invalid specification: destination can't be '/'")
    return cleaned


def parse_bind(spec: str) -> MountPoint:
    """One HostConfig.Binds entry: `/host:/dst[:mode]` (bind), `name:/dst[:mode]` (named
    volume) or `/dst` (anonymous volume)."""
    parts = spec.split(":")
    if any(not part for part in parts) or len(parts) > 3:
        raise _invalid_spec(spec)
    if len(parts) == 1:
        source, target, mode = "", parts[0], ""
    elif len(parts) == 2:
        if valid_mode(parts[1]):
            raise _invalid_spec(spec)  # a destination and a mode: volumes take no mode
        source, target, mode = parts[0], parts[1], ""
    else:
        source, target, mode = parts
    if not valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    words = mode.split(",") if mode else []
    kind = "volume" if not source.startswith("/") else "bind"
    destination = _check_target(kind, target, spec)
    read_only = "ro" in words
    spec_entry: dict[str, Any] = {"Type": kind, "Source": source, "Target": destination}
    if read_only:
        spec_entry["ReadOnly"] = True
    if kind == "bind":
        if "nocopy" in words:
            raise InvalidArgument(f"invalid mode: {mode}")
        propagation = next((w for w in words if w in PROPAGATIONS), DEFAULT_PROPAGATION)
        made = point("bind", destination, source=posixpath.normpath(source), rw=not read_only,
                     mode=mode, propagation=propagation, spec=spec_entry)  # fmt: skip
        made["MakeSource"] = True  # as dockerd: a bind string's missing source is made
        return made
    if any(w in PROPAGATIONS for w in words):
        raise InvalidArgument(f"invalid mode: {mode}")
    if "nocopy" in words:
        spec_entry["VolumeOptions"] = {"NoCopy": True}
    return point("volume", destination, name=source, rw=not read_only, mode=mode or "z",
                 copy_data="nocopy" not in words, spec=spec_entry)  # fmt: skip


def parse_mount(mount: dict[str, Any]) -> MountPoint:
    """One HostConfig.Mounts entry (`--mount`), checked as dockerd checks it at create."""
    kind = mount.get("Type") or ""
    target = mount.get("Target") or ""
    source = mount.get("Source") or ""
    read_only = bool(mount.get("ReadOnly"))
    if kind not in ("bind", "volume", "tmpfs"):
        if kind in ("npipe", "cluster", "image"):
            raise NotImplementedYet(f"mounts of type {kind!r} are not supported by ketch yet")
        raise InvalidArgument(f"invalid mount config: mount type unknown: {kind!r}")
    for key, allowed in (("BindOptions", "bind"), ("VolumeOptions", "volume"),
                         ("TmpfsOptions", "tmpfs")):  # fmt: skip
        if mount.get(key) is not None and kind != allowed:
            raise _mount_error(kind, f"field {key} must not be specified")
    destination = _check_target(kind, target)
    spec = dict(mount)
    if kind == "bind":
        if not source:
            raise _mount_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _mount_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        propagation = (mount.get("BindOptions") or {}).get("Propagation") or DEFAULT_PROPAGATION
        if propagation not in PROPAGATIONS:
            raise _mount_error(kind, f"invalid propagation mode: {propagation}")
        return point("bind", destination, source=posixpath.normpath(source), rw=not read_only,
                     propagation=propagation, spec=spec)  # fmt: skip
    if kind == "tmpfs":
        if source:
            raise _mount_error(kind, "field Source must not be specified")
        size = (mount.get("TmpfsOptions") or {}).get("SizeBytes") or 0
        if int(size) < 0:
            raise _mount_error(kind, "invalid tmpfs size")
        return point("tmpfs", destination, rw=not read_only, spec=spec)
    options = mount.get("VolumeOptions") or {}
    driver = (options.get("DriverConfig") or {}).get("Name") or ""
    subpath = options.get("Subpath") or ""
    if subpath and (subpath.startswith("/") or ".." in subpath.split("/")):
        raise _mount_error(kind, "subpath must be a relative path within the volume")
    return point("volume", destination, name=source, rw=not read_only, mode="z",
                 driver=driver, copy_data=not options.get("NoCopy"), spec=spec)  # fmt: skip


def point(
    kind: str,
    destination: str,
    *,
    name: str = "",
    source: str = "",
    driver: str = "",
    rw: bool = True,
    mode: str = "",
    propagation: str = "",
    copy_data: bool = False,
    spec: dict[str, Any] | None = None,
) -> MountPoint:
    return {"Type": kind, "Name": name, "Source": source, "Destination": destination,
            "Driver": driver, "Mode": mode, "RW": rw, "Propagation": propagation,
            "CopyData": copy_data, "Spec": spec or {}}  # fmt: skip


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """`container[:ro|rw]`: the container and whether its mounts stay writable."""
    name, sep, mode = spec.partition(":")
    if not name or (sep and (not valid_mode(mode) or "nocopy" in mode.split(","))):
        raise InvalidArgument(f"invalid mode: {mode}")
    return name, "ro" not in mode.split(",")


def inherited(source: MountPoint, writable: bool) -> MountPoint:
    """Another container's mount point as --volumes-from gives it (no copy of data)."""
    return {**source, "RW": bool(source["RW"]) and writable, "Mode": "", "CopyData": False}


def plan(
    config: dict[str, Any],
    host_config: dict[str, Any],
    volumes_from: list[MountPoint] | None = None,
) -> list[MountPoint]:
    """The container's mount points in dockerd's order of precedence: --volumes-from, then
    Binds and Mounts (each destination once), then Config.Volumes' anonymous volumes where
    nothing else is mounted."""
    found: dict[str, MountPoint] = {p["Destination"]: p for p in volumes_from or []}
    tmpfs = {posixpath.normpath(d) for d in host_config.get("Tmpfs") or {}}
    taken: set[str] = set()
    for entry in [parse_bind(b) for b in host_config.get("Binds") or []] + [
        parse_mount(m) for m in host_config.get("Mounts") or []
    ]:
        destination = entry["Destination"]
        if destination in taken or destination in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {destination}")
        taken.add(destination)
        found[destination] = entry
    for target in config.get("Volumes") or {}:
        destination = _check_target("volume", target)
        if destination in found or destination in tmpfs:
            continue
        found[destination] = point("volume", destination, copy_data=True)
    return sorted(found.values(), key=lambda p: p["Destination"].count("/"))


def view(mount_point: MountPoint) -> dict[str, Any]:
    """One entry of `docker inspect`'s Mounts."""
    shown: dict[str, Any] = {"Type": mount_point["Type"]}
    if mount_point["Type"] == "volume":
        shown["Name"] = mount_point["Name"]
    shown["Source"] = mount_point["Source"]
    shown["Destination"] = mount_point["Destination"]
    if mount_point["Type"] == "volume":
        shown["Driver"] = mount_point["Driver"]
    shown.update(Mode=mount_point["Mode"], RW=bool(mount_point["RW"]),
                 Propagation=mount_point["Propagation"])  # fmt: skip
    return shown


def subpath(mount_point: MountPoint) -> str:
    return str(((mount_point.get("Spec") or {}).get("VolumeOptions") or {}).get("Subpath") or "")


def covering(mount_points: list[MountPoint], path: str) -> MountPoint | None:
    """The mount point `path` (absolute, in the container) lies under, the deepest one."""
    path = posixpath.normpath("/" + path.lstrip("/"))
    best: MountPoint | None = None
    for mount_point in mount_points:
        destination = mount_point["Destination"]
        if path == destination or path.startswith(destination.rstrip("/") + "/"):
            if best is None or len(destination) > len(best["Destination"]):
                best = mount_point
    return best
