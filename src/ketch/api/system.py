"""System routes: _ping, version, info, auth, events."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import time
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web

import ketch
from ketch.api.filters import query_filters
from ketch.api.http import backend_of, json_response, parse_time_param, read_json
from ketch.snapshots.backing import backing_filesystem, supports_d_type
from ketch.timestamps import rfc3339_nano


async def ping(request: web.Request) -> web.StreamResponse:
    headers = {
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
        # The builder ketch has is Docker's classic one ("1"), as a dockerd without
        # BuildKit advertises; "2" would send clients to BuildKit's /session and /grpc.
        "Builder-Version": "1",
    }
    if request.method == "HEAD":
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Length"] = "0"
        return web.Response(headers=headers)
    return web.Response(text="OK", headers=headers)


@cache
def build_commit() -> str:
    """The source's git commit, when ketch runs from a checkout (dockerd prints its own).
    Read from .git's files: the daemon forks no `git`."""
    for directory in Path(ketch.__file__).resolve().parents:
        git = directory / ".git"
        if git.is_dir():
            break
    else:
        return ""
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip()[:7]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:7]
    except OSError:
        pass
    return ""


@cache
def build_time() -> str:
    """When the installed sources were written, in Go's RFC3339Nano as dockerd sends it."""
    mtime_ns = Path(ketch.__file__).stat().st_mtime_ns
    return rfc3339_nano(mtime_ns).removesuffix("Z") + "+00:00"


def version_info() -> dict[str, Any]:
    uname = os.uname()
    component = {
        "Name": "Engine",
        "Version": ketch.__version__,
        "Details": {
            "ApiVersion": ketch.API_VERSION,
            "MinAPIVersion": ketch.MIN_API_VERSION,
            "GitCommit": build_commit(),
            "GoVersion": f"python{platform.python_version()}",
            "Os": "linux",
            "Arch": go_arch(),
            "KernelVersion": uname.release,
            "Experimental": "false",
            "BuildTime": build_time(),
        },
    }
    return {
        "Platform": {"Name": "ketch"},
        "Components": [component],
        "Version": ketch.__version__,
        "ApiVersion": ketch.API_VERSION,
        "MinAPIVersion": ketch.MIN_API_VERSION,
        "GitCommit": build_commit(),
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": uname.release,
        "BuildTime": build_time(),
    }


async def version(request: web.Request) -> web.Response:
    return json_response(version_info())


def go_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine
    )


@cache
def os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@cache
def cgroup_version() -> str:
    """ "2" only on a pure cgroup2 host; hybrid hosts run containers on v1."""
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split(" - ", 1)
            if len(fields) == 2 and fields[0].split()[4] == "/sys/fs/cgroup":
                return "2" if fields[1].split()[0] == "cgroup2" else "1"
    except OSError:
        pass
    return "1"


@cache
def cgroup_capabilities() -> dict[str, bool]:
    """The host's cgroup controllers do not change while the daemon runs: read them once."""
    from ketch.runtime.cgroups import capabilities

    return capabilities()


def ipv4_forwarding(path: Path = Path("/proc/sys/net/ipv4/ip_forward")) -> bool:
    """Whether the host forwards IPv4, as dockerd reads it (it sets nothing itself)."""
    try:
        return path.read_text().strip() == "1"
    except OSError:
        return False


async def info(request: web.Request) -> web.Response:
    backend = backend_of(request)
    cfg = backend.config
    counts = backend.containers.counts()
    images = len(backend.images.list())
    listeners = backend.events.listener_count
    uname = os.uname()
    body = {
        "ID": backend.daemon_id,
        **counts,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", backing_filesystem(cfg.data_root / "snapshots")],
            ["Supports d_type", str(supports_d_type(cfg.data_root / "snapshots")).lower()],
        ],
        "Plugins": {
            "Volume": ["local"] if backend.volumes_service is not None else [],
            "Network": ["host", "null"],  # no bridge driver yet
            "Authorization": None,
            "Log": ["json-file"],
        },
        **cgroup_capabilities(),
        "IPv4Forwarding": ipv4_forwarding(),
        "Debug": cfg.debug,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": len(asyncio.all_tasks()),
        "SystemTime": rfc3339_nano(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "NEventsListener": listeners,
        "KernelVersion": uname.release,
        "OperatingSystem": os_release(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": uname.machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(cfg.registry_mirrors, cfg.insecure_registries),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": mem_total(),
        "DockerRootDir": str(cfg.data_root),
        "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
        "NoProxy": os.environ.get("NO_PROXY", ""),
        "Name": socket.gethostname(),
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": ketch.__version__,
        "Runtimes": {"runc": {"path": "ketch-runtime"}},  # runc's CLI, under runc's name
        "DefaultRuntime": "runc",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "docker-init",  # its name inside containers, as dockerd reports it
        # ketch's shim and ketch-runtime do containerd's and runc's parts: their version
        "ContainerdCommit": {"ID": build_commit() or ketch.__version__, "Expected": ""},
        "RuncCommit": {"ID": build_commit() or ketch.__version__, "Expected": ""},
        "InitCommit": {"ID": "tini" if backend.init_path else "",
                       "Expected": ""},  # fmt: skip
        "SecurityOptions": [f"name=seccomp,profile={cfg.seccomp_profile or 'builtin'}"],
        "Warnings": [],
    }
    return json_response(body)


def registry_config(mirrors: list[str], insecure: list[str]) -> dict[str, Any]:
    cidrs = ["127.0.0.0/8"] + [entry for entry in insecure if "/" in entry]
    index_configs = {
        "docker.io": {
            "Name": "docker.io",
            "Mirrors": [m + "/" for m in mirrors],
            "Secure": True,
            "Official": True,
        },
    }
    for entry in insecure:
        if "/" not in entry:
            index_configs[entry] = {
                "Name": entry,
                "Mirrors": [],
                "Secure": False,
                "Official": False,
            }
    return {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": index_configs,
        "Mirrors": [m + "/" for m in mirrors],
    }


async def auth(request: web.Request) -> web.Response:
    from ketch.api.images import check_auth_config

    body = await read_json(request)
    check_auth_config(body)
    body = {k: v for k, v in body.items() if v is not None}  # Go's null: the zero value
    token = await backend_of(request).images.login(body)
    return json_response({"Status": "Login Succeeded", "IdentityToken": token or ""})


# How often a quiet event stream looks whether its client is still there: aiohttp
# tells a GET handler nothing when the client hangs up, and until the stream ends
# its listener would still be counted (NEventsListener) and fed.
CLIENT_CHECK = 1.0


def client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def events(request: web.Request) -> web.StreamResponse:
    """Docker's event stream: history since `since`, then live events until `until`."""
    from ketch.containers.events import matches

    backend = backend_of(request)
    bus = backend.events
    filters = query_filters(request)
    since = parse_time_param(request.query.get("since"))
    until = parse_time_param(request.query.get("until"))
    queue = bus.subscribe()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await response.prepare(request)

        async def send(event: dict[str, Any]) -> None:
            if matches(event, filters):
                await response.write(json.dumps(event).encode() + b"\n")

        if since is not None:
            for event in list(bus.history):
                if event["timeNano"] >= since * 1e9 and (
                    until is None or event["timeNano"] <= until * 1e9
                ):
                    await send(event)
        while True:
            timeout = CLIENT_CHECK if until is None else min(CLIENT_CHECK, until - time.time())
            if timeout <= 0:
                break
            try:
                event = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                if client_gone(request):
                    break
                continue
            await send(event)
    finally:
        bus.unsubscribe(queue)
    await response.write_eof()
    return response


async def disk_usage(request: web.Request) -> web.Response:
    """`docker system df`: images, containers and the bytes they hold, each measured, and
    the builder's cache records, and the volumes with their sizes."""
    from ketch.images.views import summary_view

    backend = backend_of(request)
    images = backend.images
    containers = backend.containers
    usage = images.layer_usage()
    builder = backend.build_service
    rows = []
    for image in images.list():
        row = summary_view(image, len(containers.image_in_use(image.id)))
        row["SharedSize"] = usage.shared_size.get(image.id, 0)
        rows.append(row)
    return json_response({
        "LayersSize": usage.layers_size,
        "Images": rows,
        "Containers": containers.list(all=True, size=True),
        "Volumes": backend.volumes_service.usage() if backend.volumes_service else [],
        "BuildCache": builder.cache_usage() if builder is not None else [],
    })  # fmt: skip


ROUTES = [
    ("GET", "/system/df", disk_usage),
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("POST", "/auth", auth),
    ("GET", "/events", events),
]
