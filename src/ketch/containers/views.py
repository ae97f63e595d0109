"""Docker's JSON views of a container: /containers/json rows and /containers/{id}/json."""

from __future__ import annotations

import hashlib
from typing import Any

from ketch.containers.record import Container
from ketch.containers.status import status_text
from ketch.errors import KetchError
from ketch.runtime.spec import MASKED_PATHS, READONLY_PATHS
from ketch.timestamps import parse_rfc3339

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
    # null unless given (the docker CLI sends [], which is kept; docker-py sends nothing)
    "Dns": None,
    "DnsOptions": None,
    "DnsSearch": None,
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
    # The default runtime's name as dockerd's (clients compare it); ketch-runtime is
    # runc's command line.
    "Runtime": "runc",
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


def effective_host_config(stored: dict[str, Any]) -> dict[str, Any]:
    """HostConfig as dockerd shows it: the zero values a client sends for "unset" replaced
    by what the container really gets (dockerd writes these defaults at create)."""
    host_config = {**DEFAULT_HOST_CONFIG, **stored}
    log_config = dict(host_config.get("LogConfig") or {})
    log_config["Type"] = log_config.get("Type") or "json-file"
    log_config["Config"] = log_config.get("Config") or {}
    host_config["LogConfig"] = log_config
    if not host_config.get("ShmSize"):
        host_config["ShmSize"] = DEFAULT_HOST_CONFIG["ShmSize"]  # the runtime's 64m /dev/shm
    if not host_config.get("IpcMode"):
        host_config["IpcMode"] = "private"
    if not host_config.get("CgroupnsMode"):
        host_config["CgroupnsMode"] = "private"  # the runtime always unshares it
    if (host_config.get("PidsLimit") or 0) <= 0:
        host_config["PidsLimit"] = None  # 0 and -1 both mean unlimited; dockerd stores nil
    if host_config.get("Privileged"):
        host_config["MaskedPaths"] = host_config["ReadonlyPaths"] = None
    else:
        if not host_config.get("MaskedPaths"):
            host_config["MaskedPaths"] = list(MASKED_PATHS)
        if not host_config.get("ReadonlyPaths"):
            host_config["ReadonlyPaths"] = list(READONLY_PATHS)
    return host_config


def network_id(name: str) -> str:
    """The stable ID of one of ketch's two networks (host, none)."""
    return hashlib.sha256(f"ketch-network-{name}".encode()).hexdigest()


def network_of(host_config: dict[str, Any]) -> str:
    """The network a container is on: the host's, or its own namespace with loopback
    only (what "none" is, and what "default" gets until ketch has a bridge)."""
    return "host" if host_config.get("NetworkMode") == "host" else "none"


def endpoint(name: str) -> dict[str, Any]:
    """EndpointSettings of an endpoint without addresses, as dockerd shows for host/none."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "MacAddress": "",
        "DriverOpts": None,
        "NetworkID": network_id(name),
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def command_line(container: Container) -> str:
    return " ".join([container.path, *container.args])


def inspect_view(
    container: Container,
    image_name: str,
    graph_driver: dict[str, Any] | None = None,
    exec_ids: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    state = dict(container.state)
    state.pop("RemovalInProgress", None)
    host_config = effective_host_config(container.host_config)
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
        "ExecIDs": exec_ids or None,
        "HostConfig": host_config,
        "GraphDriver": graph_driver or {"Name": "overlay2", "Data": {}},
        "Mounts": mounts_view(container),
        "Config": config,
        "NetworkSettings": settings or network_settings(network_of(container.host_config)),
    }


def mounts_view(container: Container) -> list[dict[str, Any]]:
    """Its mount points as `docker inspect` and `docker ps` list them."""
    from ketch.containers import mountpoints

    points = container.mount_points
    if points is None:
        try:
            points = mountpoints.plan({}, container.host_config)
        except KetchError:
            points = []
    return [mountpoints.view(p) for p in points]


def network_settings(
    network: str,
    networks: dict[str, Any] | None = None,
    ports: dict[str, Any] | None = None,
    primary: dict[str, Any] | None = None,
    sandbox_key: str = "",
) -> dict[str, Any]:
    """NetworkSettings: `networks` (name -> EndpointSettings) and `ports` as measured; the
    top-level addresses are the default bridge's endpoint's (`primary`), as dockerd fills
    them."""
    main = primary or {}
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": sandbox_key,
        "Ports": ports or {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": main.get("EndpointID", ""),
        "Gateway": main.get("Gateway", ""),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": main.get("IPAddress", ""),
        "IPPrefixLen": main.get("IPPrefixLen", 0),
        "IPv6Gateway": "",
        "MacAddress": main.get("MacAddress", ""),
        "Networks": networks if networks is not None else {network: endpoint(network)},
    }


def list_view(
    container: Container,
    image_name: str,
    now: float | None = None,
    networks: dict[str, Any] | None = None,
    ports: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    created = parse_rfc3339(container.created) or 0.0
    network = network_of(container.host_config)
    return {
        "Id": container.id,
        "Names": [container.name],
        "Image": image_name,
        "ImageID": container.image_id,
        "Command": command_line(container),
        "Created": int(created),
        "Ports": ports or [],
        "Labels": container.config.get("Labels") or {},
        "State": container.state.get("Status", "created"),
        "Status": status_text(container.state, now),
        "HostConfig": {"NetworkMode": container.host_config.get("NetworkMode") or "default"},
        "NetworkSettings": {
            "Networks": networks if networks is not None else {network: endpoint(network)}
        },
        "Mounts": mounts_view(container),
    }
