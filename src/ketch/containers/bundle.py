"""The OCI bundle's config.json for a container, built from Docker's Config/HostConfig."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketch import atomicfile
from ketch.containers import mountpoints, networking
from ketch.containers import users as container_users
from ketch.containers.merge import process_env
from ketch.containers.mountpoints import MountPoint
from ketch.containers.record import Container
from ketch.errors import InvalidArgument, NotImplementedYet
from ketch.runtime.caps import CAPABILITIES, names_of
from ketch.runtime.seccomp import SeccompError, default_profile, profile_to_spec
from ketch.runtime.spec import default_spec

RLIMITS = {f"RLIMIT_{n}" for n in ("AS", "CORE", "CPU", "DATA", "FSIZE", "LOCKS", "MEMLOCK",
           "MSGQUEUE", "NICE", "NOFILE", "NPROC", "RSS", "RTPRIO", "RTTIME", "SIGPENDING",
           "STACK")}  # fmt: skip

# The files ketch writes into the container's directory and binds in.
ETC_FILES = (("hostname", "/etc/hostname"), ("hosts", "/etc/hosts"),
             ("resolv.conf", "/etc/resolv.conf"))  # fmt: skip

# Docker's default: nofile is raised only as far as the host's hard limit allows.
DEFAULT_NOFILE = 1048576


def resources_of(host_config: dict[str, Any]) -> dict[str, Any]:
    """runtime-spec linux.resources from HostConfig's limits."""
    resources: dict[str, Any] = {
        "devices": [{"allow": False, "access": "rwm"}],
    }
    memory: dict[str, Any] = {}
    if host_config.get("Memory"):
        memory["limit"] = int(host_config["Memory"])
    if host_config.get("MemorySwap") and host_config["MemorySwap"] > 0:
        memory["swap"] = int(host_config["MemorySwap"])
    if host_config.get("MemoryReservation"):
        memory["reservation"] = int(host_config["MemoryReservation"])
    if memory:
        resources["memory"] = memory
    cpu: dict[str, Any] = {}
    if host_config.get("NanoCpus"):
        period = 100_000
        cpu["period"] = period
        cpu["quota"] = int(host_config["NanoCpus"]) * period // 1_000_000_000
    if host_config.get("CpuQuota"):
        cpu["quota"] = int(host_config["CpuQuota"])
    if host_config.get("CpuPeriod"):
        cpu["period"] = int(host_config["CpuPeriod"])
    if host_config.get("CpuShares"):
        cpu["shares"] = int(host_config["CpuShares"])
    if host_config.get("CpuRealtimePeriod"):
        cpu["realtimePeriod"] = int(host_config["CpuRealtimePeriod"])
    if host_config.get("CpuRealtimeRuntime"):
        cpu["realtimeRuntime"] = int(host_config["CpuRealtimeRuntime"])
    if host_config.get("CpusetCpus"):
        cpu["cpus"] = host_config["CpusetCpus"]
    if host_config.get("CpusetMems"):
        cpu["mems"] = host_config["CpusetMems"]
    if cpu:
        resources["cpu"] = cpu
    if host_config.get("PidsLimit") and host_config["PidsLimit"] > 0:
        resources["pids"] = {"limit": int(host_config["PidsLimit"])}
    return resources


def runtime_mount(mount_point: MountPoint) -> dict[str, Any]:
    """One mount point (mountpoints.py's model, its volume resolved) as a runtime-spec
    mount."""
    kind, destination = mount_point["Type"], mount_point["Destination"]
    access = "rw" if mount_point["RW"] else "ro"
    if kind == "tmpfs":
        tmpfs = (mount_point.get("Spec") or {}).get("TmpfsOptions") or {}
        options = ["nosuid", "nodev", "noexec", *([] if mount_point["RW"] else ["ro"])]
        if tmpfs.get("SizeBytes"):
            options.append(f"size={int(tmpfs['SizeBytes'])}")
        if tmpfs.get("Mode"):
            options.append(f"mode={int(tmpfs['Mode']):o}")
        return {"destination": destination, "type": "tmpfs", "source": "tmpfs",
                "options": options}  # fmt: skip
    source = mount_point["Source"]
    if not source:
        raise InvalidArgument(f"volume for {destination} has no source")
    if kind == "volume" and mountpoints.subpath(mount_point):
        source = os.path.join(source, mountpoints.subpath(mount_point))
    propagation = mount_point.get("Propagation") or mountpoints.DEFAULT_PROPAGATION
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", propagation, access]}  # fmt: skip


def user_mounts(
    host_config: dict[str, Any], mount_points: list[MountPoint] | None = None
) -> list[dict[str, Any]]:
    """The container's own mounts: its mount points (by default its binds and mounts as
    HostConfig names them), then HostConfig.Tmpfs."""
    if mount_points is None:
        mount_points = mountpoints.plan({}, host_config)
    mounts = [runtime_mount(p) for p in mount_points]
    for destination, options in (host_config.get("Tmpfs") or {}).items():
        extra = [o for o in str(options).split(",") if o]
        mounts.append({"destination": destination, "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", *extra]})  # fmt: skip
    seen: set[str] = set()
    for mount in mounts:
        if mount["destination"] in seen:
            raise InvalidArgument(f"Duplicate mount point: {mount['destination']}")
        seen.add(mount["destination"])
    return mounts


INIT_IN_CONTAINER = "/sbin/docker-init"


def build_spec(
    *,
    path: str,
    args: list[str],
    config: dict[str, Any],
    host_config: dict[str, Any],
    uid: int,
    gid: int,
    additional_gids: list[int],
    container_dir: str,
    nofile_hard: int,
    seccomp_profile: dict[str, Any] | None = None,
    init_path: str | None = None,
    network_namespace: str | None = None,
    mount_points: list[MountPoint] | None = None,
) -> dict[str, Any]:
    """config.json (runtime-spec 1.2) as Docker would write it for this container;
    `network_namespace`: the path of the network namespace it joins (made before it)."""
    nofile = min(DEFAULT_NOFILE, nofile_hard)
    binds = [
        {"destination": dest, "type": "bind", "source": f"{container_dir}/{name}",
         "options": ["rbind", "rprivate"]}
        for name, dest in ETC_FILES
    ]  # fmt: skip
    binds += user_mounts(host_config, mount_points)
    command = [path, *args]
    if host_config.get("Init"):
        # As dockerd: the init is bind-mounted read-only and reaps and forwards
        # signals for the command, which it runs as its child.
        if not init_path:
            raise NotImplementedYet(
                "--init: no init binary found on the daemon's host (install tini)"
            )
        binds.append({"destination": INIT_IN_CONTAINER, "type": "bind",
                      "source": init_path, "options": ["bind", "ro"]})  # fmt: skip
        command = [INIT_IN_CONTAINER, "--", *command]
    spec = default_spec(
        command,
        env=process_env(config),
        cwd=config.get("WorkingDir") or "/",
        tty=bool(config.get("Tty")),
        hostname=config.get("Hostname") or "",
        uid=uid,
        gid=gid,
        additional_gids=additional_gids,
        readonly_rootfs=bool(host_config.get("ReadonlyRootfs")),
        extra_mounts=binds,
        rlimits=[{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
        resources=resources_of(host_config),
    )
    shared_with_host = {
        namespace
        for key, namespace in (("NetworkMode", "network"), ("PidMode", "pid"),
                               ("IpcMode", "ipc"), ("UTSMode", "uts"))
        if host_config.get(key) == "host"
    }  # fmt: skip
    if network_namespace and "network" not in shared_with_host:
        spec["linux"]["namespaces"] = [
            {"type": "network", "path": network_namespace} if ns["type"] == "network" else ns
            for ns in spec["linux"]["namespaces"]
        ]
    if shared_with_host:
        spec["linux"]["namespaces"] = [
            ns for ns in spec["linux"]["namespaces"] if ns["type"] not in shared_with_host
        ]
        if "uts" in shared_with_host:
            spec.pop("hostname", None)
    security = security_options(host_config.get("SecurityOpt") or [])
    privileged = bool(host_config.get("Privileged"))
    caps = spec["process"]["capabilities"]
    if privileged:
        spec["linux"]["maskedPaths"] = []
        spec["linux"]["readonlyPaths"] = []
        every = own_capabilities()
        for kind in ("bounding", "effective", "permitted"):
            caps[kind] = list(every)
        spec["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    for cap in host_config.get("CapAdd") or []:
        name = _cap_name(cap)
        for kind in ("bounding", "effective", "permitted"):
            if name not in caps[kind]:
                caps[kind].append(name)
    for cap in host_config.get("CapDrop") or []:
        name = _cap_name(cap)
        for kind in ("bounding", "effective", "permitted"):
            caps[kind] = [c for c in caps[kind] if name not in (c, "CAP_ALL")]
    if security.get("systempaths") == "unconfined":
        spec["linux"]["maskedPaths"] = []
        spec["linux"]["readonlyPaths"] = []
    if security.get("no-new-privileges"):
        spec["process"]["noNewPrivileges"] = True
    # As dockerd: a privileged container runs unconfined whatever the profile.
    profile = security.get("seccomp", seccomp_profile)
    if profile is not None and profile != "unconfined" and not privileged:
        try:
            linux_seccomp = profile_to_spec(profile, caps["bounding"])
        except SeccompError as error:
            raise InvalidArgument(str(error)) from None
        if linux_seccomp is not None:
            spec["linux"]["seccomp"] = linux_seccomp
    for ulimit in host_config.get("Ulimits") or []:
        name = f"RLIMIT_{str(ulimit.get('Name', '')).upper()}"
        hard, soft = int(ulimit.get("Hard", 0)), int(ulimit.get("Soft", 0))
        if name not in RLIMITS or soft > hard:
            raise InvalidArgument(f"invalid ulimit: {ulimit}")
        spec["process"]["rlimits"] = [r for r in spec["process"]["rlimits"] if r["type"] != name]
        spec["process"]["rlimits"].append({"type": name, "hard": hard, "soft": soft})
    if host_config.get("ShmSize"):
        for mount in spec["mounts"]:
            if mount["destination"] == "/dev/shm":
                mount["options"] = [o for o in mount["options"] if not o.startswith("size=")]
                mount["options"].append(f"size={int(host_config['ShmSize']) // 1024}k")
    return spec


def own_capabilities() -> list[str]:
    """Every capability ketchd itself holds: what --privileged can give (root may lack some)."""
    try:
        with open("/proc/self/status") as status:
            lines = status.read().splitlines()
        for line in lines:
            if line.startswith("CapEff:"):
                return names_of(int(line.split()[1], 16))
    except OSError:
        pass
    return list(CAPABILITIES)


def security_options(options: list[str]) -> dict[str, Any]:
    """HostConfig.SecurityOpt: seccomp=unconfined|builtin|<profile JSON>, no-new-privileges[:bool].

    The docker CLI sends a profile file's content, not its path. AppArmor and
    SELinux labels do not apply to ketch and are accepted without effect.
    """
    import json

    found: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=" if "=" in option else ":")
        if key == "no-new-privileges":
            found[key] = not sep or value.lower() in ("true", "1", "")
        elif key == "seccomp":
            if value == "unconfined":
                found[key] = "unconfined"
            elif value == "builtin":
                found[key] = default_profile()
            else:
                try:
                    found[key] = json.loads(value)
                except ValueError:
                    raise InvalidArgument("decoding seccomp profile failed: invalid JSON") from None
        elif key == "systempaths" and value == "unconfined":
            found[key] = value
        elif key in ("apparmor", "label"):
            continue
        else:
            raise InvalidArgument(f"invalid --security-opt: {option!r}")
    return found


def _cap_name(cap: str) -> str:
    upper = cap.upper()
    return upper if upper.startswith("CAP_") else f"CAP_{upper}"


@dataclass(frozen=True)
class BundleSettings:
    """The daemon's defaults that go into every container's config.json."""

    seccomp_profile: dict[str, Any] | None = None
    init_path: str | None = None
    # The daemon has networks: a container on a bridge joins a namespace made for it.
    network_namespaces: bool = False


def write_bundle(container: Container, layer_dirs: list[Path], settings: BundleSettings) -> None:
    """The container's bundle: rootfs (mounted at start) and config.json, written atomically."""
    uid, gid, extra_gids = container_users.resolve(container.config.get("User", ""), layer_dirs)
    added = container_users.group_add(container.host_config.get("GroupAdd") or [], layer_dirs)
    extra_gids = [*extra_gids, *(g for g in added if g not in extra_gids)]
    spec = build_spec(
        path=container.path,
        args=container.args,
        config=container.config,
        host_config=container.host_config,
        uid=uid,
        gid=gid,
        additional_gids=extra_gids,
        container_dir=str(container.directory),
        nofile_hard=resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        seccomp_profile=settings.seccomp_profile,
        init_path=settings.init_path,
        network_namespace=(
            str(container.netns_path)
            if settings.network_namespaces and networking.on_bridge(container.host_config)
            else None
        ),
        mount_points=container.mount_points,
    )
    container.bundle.mkdir(exist_ok=True)
    (container.bundle / "rootfs").mkdir(exist_ok=True)
    atomicfile.write_json(container.bundle / "config.json", spec)


def write_bundle_unless_user_unknown(
    container: Container, layer_dirs: list[Path], settings: BundleSettings
) -> None:
    """write_bundle at create or update: a user or group the image lacks leaves the
    container without a config.json, and its start fails then, as dockerd looks the user
    up at start (docker-compose run expects the container to be there afterwards)."""
    try:
        write_bundle(container, layer_dirs, settings)
    except container_users.NoSuchUser:
        (container.bundle / "config.json").unlink(missing_ok=True)


def set_process_env(container: Container, extra: list[str]) -> None:
    """config.json's environment: the container's own, then `extra` (a start's link
    variables, which name addresses known only then)."""
    import json

    config_path = container.bundle / "config.json"
    spec = json.loads(config_path.read_text())
    spec["process"]["env"] = process_env(container.config) + extra
    atomicfile.write_json(config_path, spec)


def join_namespace(container: Container, kind: str, path: str) -> None:
    """config.json's `kind` namespace becomes the one at `path` (another container's, for
    --network container:x), decided at start since that container's pid is known then."""
    import json

    config_path = container.bundle / "config.json"
    spec = json.loads(config_path.read_text())
    namespaces = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != kind]
    namespaces.append({"type": kind, "path": path})
    spec["linux"]["namespaces"] = namespaces
    atomicfile.write_json(config_path, spec)
