"""Docker's JSON views of a container: /containers/json rows and /containers/{id}/json."""

from __future__ import annotations

from typing import Any

from ketch.containers.record import Container, parse_time
from ketch.containers.status import status_text

DEFAULT_HOST_CONFIG: dict[str, Any] = {
    "Binds": None,
    "ContainerIDFile": "",
    "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "default",
    "PortBindings": {},
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False,
    "VolumeDriver": "",
    "VolumesFrom": None,
    "CapAdd": None,
    "CapDrop": None,
    "Dns": [],
    "DnsOptions": [],
    "DnsSearch": [],
    "ExtraHosts": None,
    "GroupAdd": None,
    "IpcMode": "private",
    "Cgroup": "",
    "Links": None,
    "OomScoreAdj": 0,
    "PidMode": "",
    "Privileged": False,
    "PublishAllPorts": False,
    "ReadonlyRootfs": False,
    "SecurityOpt": None,
    "UTSMode": "",
    "UsernsMode": "",
    "ShmSize": 67108864,
    "Runtime": "ketch",
    "Isolation": "",
    "CpuShares": 0,
    "Memory": 0,
    "NanoCpus": 0,
    "CgroupParent": "",
    "BlkioWeight": 0,
    "CpuPeriod": 0,
    "CpuQuota": 0,
    "CpusetCpus": "",
    "CpusetMems": "",
    "Devices": [],
    "MemoryReservation": 0,
    "MemorySwap": 0,
    "OomKillDisable": False,
    "PidsLimit": None,
    "Ulimits": [],
    "Init": None,
    "MaskedPaths": [],
    "ReadonlyPaths": [],
}


def command_line(container: Container) -> str:
    return " ".join([container.path, *container.args])


def inspect_view(
    container: Container, image_name: str, graph_driver: dict[str, Any] | None = None
) -> dict[str, Any]:
    state = dict(container.state)
    state.pop("RemovalInProgress", None)
    host_config = {**DEFAULT_HOST_CONFIG, **container.host_config}
    config = dict(container.config)
    config["Image"] = image_name
    return {
        "Id": container.id,
        "Created": container.created,
        "Path": container.path,
        "Args": container.args,
        "State": state,
        "Image": container.image_id,
        "ResolvConfPath": str(container.directory / "resolv.conf"),
        "HostnamePath": str(container.directory / "hostname"),
        "HostsPath": str(container.directory / "hosts"),
        "LogPath": str(container.log_path),
        "Name": container.name,
        "RestartCount": container.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": list(container.execs) or None,
        "HostConfig": host_config,
        "GraphDriver": graph_driver or {"Name": "overlay2", "Data": {}},
        "Mounts": mounts_view(container.host_config),
        "Config": config,
        "NetworkSettings": network_settings(),
    }


def mounts_view(host_config: dict[str, Any]) -> list[dict[str, Any]]:
    """Binds and Mounts as `docker inspect` lists them."""
    found = []
    for bind in host_config.get("Binds") or []:
        parts = bind.split(":")
        options = parts[2].split(",") if len(parts) > 2 else []
        found.append({
            "Type": "bind", "Source": parts[0], "Destination": parts[1],
            "Mode": parts[2] if len(parts) > 2 else "", "RW": "ro" not in options,
            "Propagation": next((o for o in options if "private" in o or "shared" in o
                                 or "slave" in o), "rprivate"),
        })  # fmt: skip
    for mount in host_config.get("Mounts") or []:
        found.append({
            "Type": mount.get("Type", "volume"), "Source": mount.get("Source", ""),
            "Destination": mount.get("Target", ""), "Mode": "",
            "RW": not mount.get("ReadOnly"), "Propagation": "rprivate" if
            mount.get("Type") == "bind" else "",
        })  # fmt: skip
    return found


def network_settings() -> dict[str, Any]:
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {},
    }


def list_view(container: Container, image_name: str, now: float | None = None) -> dict[str, Any]:
    created = parse_time(container.created) or 0.0
    return {
        "Id": container.id,
        "Names": [container.name],
        "Image": image_name,
        "ImageID": container.image_id,
        "Command": command_line(container),
        "Created": int(created),
        "Ports": [],
        "Labels": container.config.get("Labels") or {},
        "State": container.state.get("Status", "created"),
        "Status": status_text(container.state, now),
        "HostConfig": {"NetworkMode": container.host_config.get("NetworkMode") or "default"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    }
