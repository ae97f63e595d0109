"""The JSON types of Docker's Config, HostConfig and ExecConfig fields.

dockerd decodes a request into Go structs, so a field of the wrong type is a
400 before anything else happens ("json: cannot unmarshal string into Go
struct field HostConfig.Memory of type int64"). ketch keeps the request as
JSON, so it checks the same types here, at the door: otherwise a wrong type
surfaces deep inside as a Python TypeError and a 500.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ketch.errors import InvalidArgument

# Kinds: Go's names for what the field holds. "strslice" is Docker's StrSlice,
# a string or a list of strings. Every field may also be null (Go's zero value).
STR, BOOL, INT, FLOAT = "string", "bool", "int64", "float64"
STRS, STRSLICE, OBJ, LIST, STRMAP = "[]string", "strslice.StrSlice", "object", "array", "map"

CONFIG: dict[str, str] = {
    "Hostname": STR, "Domainname": STR, "User": STR, "AttachStdin": BOOL,
    "AttachStdout": BOOL, "AttachStderr": BOOL, "ExposedPorts": OBJ, "Tty": BOOL,
    "OpenStdin": BOOL, "StdinOnce": BOOL, "Env": STRS, "Cmd": STRSLICE,
    "Healthcheck": OBJ, "ArgsEscaped": BOOL, "Image": STR, "Volumes": OBJ,
    "WorkingDir": STR, "Entrypoint": STRSLICE, "NetworkDisabled": BOOL,
    "MacAddress": STR, "OnBuild": STRS, "Labels": STRMAP, "StopSignal": STR,
    "StopTimeout": INT, "Shell": STRSLICE, "HostConfig": OBJ, "NetworkingConfig": OBJ,
}  # fmt: skip

HOST_CONFIG: dict[str, str] = {
    "Binds": STRS, "ContainerIDFile": STR, "LogConfig": OBJ, "NetworkMode": STR,
    "PortBindings": OBJ, "RestartPolicy": OBJ, "AutoRemove": BOOL, "VolumeDriver": STR,
    "VolumesFrom": STRS, "Mounts": LIST, "ConsoleSize": LIST, "Annotations": STRMAP,
    "CapAdd": STRSLICE, "CapDrop": STRSLICE, "CgroupnsMode": STR, "Dns": STRS,
    "DnsOptions": STRS, "DnsSearch": STRS, "ExtraHosts": STRS, "GroupAdd": STRS,
    "IpcMode": STR, "Cgroup": STR, "Links": STRS, "OomScoreAdj": INT, "PidMode": STR,
    "Privileged": BOOL, "PublishAllPorts": BOOL, "ReadonlyRootfs": BOOL,
    "SecurityOpt": STRS, "StorageOpt": STRMAP, "Tmpfs": STRMAP, "UTSMode": STR,
    "UsernsMode": STR, "ShmSize": INT, "Sysctls": STRMAP, "Runtime": STR,
    "Isolation": STR, "CpuShares": INT, "Memory": INT, "NanoCpus": INT,
    "CgroupParent": STR, "BlkioWeight": INT, "BlkioWeightDevice": LIST,
    "BlkioDeviceReadBps": LIST, "BlkioDeviceWriteBps": LIST, "BlkioDeviceReadIOps": LIST,
    "BlkioDeviceWriteIOps": LIST, "CpuPeriod": INT, "CpuQuota": INT,
    "CpuRealtimePeriod": INT, "CpuRealtimeRuntime": INT, "CpusetCpus": STR,
    "CpusetMems": STR, "Devices": LIST, "DeviceCgroupRules": STRS, "DeviceRequests": LIST,
    "KernelMemory": INT, "KernelMemoryTCP": INT, "MemoryReservation": INT,
    "MemorySwap": INT, "MemorySwappiness": INT, "OomKillDisable": BOOL, "Init": BOOL,
    "PidsLimit": INT, "Ulimits": LIST, "CpuCount": INT, "CpuPercent": INT,
    "IOMaximumIOps": INT, "IOMaximumBandwidth": INT, "MaskedPaths": STRS,
    "ReadonlyPaths": STRS,
}  # fmt: skip

EXEC_CONFIG: dict[str, str] = {
    "User": STR, "Privileged": BOOL, "Tty": BOOL, "ConsoleSize": LIST,
    "AttachStdin": BOOL, "AttachStderr": BOOL, "AttachStdout": BOOL, "Detach": BOOL,
    "DetachKeys": STR, "Env": STRS, "WorkingDir": STR, "Cmd": STRSLICE,
}  # fmt: skip


_GO_NAMES = {STRS: "[]string", STRSLICE: "string", STRMAP: "map[string]string",
             OBJ: "struct", LIST: "slice"}  # fmt: skip


def json_kind(value: Any) -> str:
    """The JSON type as Go's decoder names it in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fits(value: Any, kind: str) -> bool:
    if value is None:
        return True
    if kind == STR:
        return isinstance(value, str)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool) and _in_int64(value)
    if kind == FLOAT:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == STRS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == STRSLICE:
        return isinstance(value, str) or _fits(value, STRS)
    if kind == OBJ:
        return isinstance(value, dict)
    if kind == LIST:
        return isinstance(value, list)
    if kind == STRMAP:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    raise AssertionError(f"unknown kind {kind}")


def _in_int64(value: int) -> bool:
    return -(2**63) <= value < 2**63


def _wrong(value: Any, kind: str) -> str:
    """What Go would say it found: the element for a list or map of strings; the number
    itself when it does not fit ("number 1e+30")."""
    if kind == INT and isinstance(value, int) and not isinstance(value, bool):
        return f"number {value}"
    if kind in (STRS, STRSLICE) and isinstance(value, list):
        return next(json_kind(v) for v in value if not isinstance(v, str))
    if kind == STRMAP and isinstance(value, dict):
        return next(json_kind(v) for v in value.values() if not isinstance(v, str))
    return json_kind(value)


def _go_name(kind: str) -> str:
    return _GO_NAMES.get(kind, kind)


def canonical(value: Any, fields: Collection[str]) -> Any:
    """`value` with its keys spelled as Docker spells the fields: Go's decoder matches a
    field's name regardless of case (docker-py sends "CPURealtimePeriod", exec create's
    "detachKeys"), and an exact match wins over one that differs in case only."""
    if not isinstance(value, dict):
        return value
    by_fold = {name.lower(): name for name in fields}
    renamed: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key)
        if name not in fields:
            name = by_fold.get(name.lower(), name)
        if name != key and name in value:
            continue  # the exact spelling is there too
        renamed[name] = item
    return renamed


def check(struct: str, value: Any, fields: dict[str, str]) -> None:
    """Raise dockerd's 400 when `value` is not an object or a known field has the wrong type."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidArgument(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type container.{struct}"
        )
    for name, kind in fields.items():
        field_value = value.get(name)
        if not _fits(field_value, kind):
            # A list or map of the right shape with a wrong element: Go names the element.
            shaped = isinstance(field_value, list if kind in (STRS, STRSLICE) else dict)
            go_kind = "string" if kind in (STRS, STRSLICE, STRMAP) and shaped else _go_name(kind)
            raise InvalidArgument(
                f"json: cannot unmarshal {_wrong(field_value, kind)} into Go struct field "
                f"{struct}.{name} of type {go_kind}"
            )
