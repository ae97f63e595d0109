"""`ketch version` and `ketch info`."""

from __future__ import annotations

import platform
from typing import Any

import ketch
from ketch import errors
from ketch.cli.app import Cli, Entry, daemon_error_text
from ketch.cli.flags import STRING, Command, Flag, Parsed
from ketch.cli.listing import render_rows
from ketch.client import API_VERSION

LABEL_WIDTH = 20


def _line(indent: int, label: str, value: Any) -> str:
    prefix = " " * indent + f"{label}:"
    return f"{prefix:<{LABEL_WIDTH}}{value}"


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def client_version() -> dict[str, Any]:
    return {
        "Version": ketch.__version__,
        "ApiVersion": API_VERSION,
        "PythonVersion": platform.python_version(),
        "Os": "linux",
        "Arch": _arch(),
        "Context": "default",
    }


def version(cli: Cli, parsed: Parsed) -> int:
    client_info = client_version()
    server: dict[str, Any] | None = None
    failure: errors.KetchError | None = None
    try:
        server = cli.client.get("/version")
    except errors.KetchError as error:
        failure = error
    if parsed.format:
        cli.stdout.write(
            render_rows(parsed.format, [{"Client": client_info, "Server": server}], {})
        )
    else:
        lines = [
            "Client:",
            _line(1, "Version", client_info["Version"]),
            _line(1, "API version", client_info["ApiVersion"]),
            _line(1, "Python version", client_info["PythonVersion"]),
            _line(1, "OS/Arch", f"{client_info['Os']}/{client_info['Arch']}"),
            _line(1, "Context", client_info["Context"]),
        ]
        if server is not None:
            minimum = server.get("MinAPIVersion")
            api = server.get("ApiVersion", "")
            lines += [
                "",
                f"Server: {(server.get('Platform') or {}).get('Name', '')}".rstrip(),
                " Engine:",
                _line(2, "Version", server.get("Version", "")),
                _line(2, "API version", f"{api} (minimum version {minimum})" if minimum else api),
                _line(2, "Go version", server.get("GoVersion", "")),
                _line(2, "Git commit", server.get("GitCommit", "")),
                _line(2, "Built", server.get("BuildTime", "")),
                _line(2, "OS/Arch", f"{server.get('Os', '')}/{server.get('Arch', '')}"),
                _line(2, "Experimental", str(bool(server.get("Experimental"))).lower()),
            ]
            for component in server.get("Components") or []:
                if component.get("Name") == "Engine":
                    continue
                lines += [
                    f" {component.get('Name')}:",
                    _line(2, "Version", component.get("Version", "")),
                ]
        cli.out("\n".join(lines))
    if failure is not None:
        cli.err(daemon_error_text(failure))
        return 1
    return 0


def binary_size(size: float) -> str:
    """go-units BytesSize: binary units with 4 significant digits ("1.944GiB")."""
    names = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    index = 0
    while size >= 1024 and index < len(names) - 1:
        size /= 1024
        index += 1
    return f"{size:.4g}{names[index]}"


def info(cli: Cli, parsed: Parsed) -> int:
    server = cli.client.get("/info") or {}
    if parsed.format:
        cli.stdout.write(render_rows(parsed.format, [server], {}))
        return 0
    lines = [
        "Client:",
        f" Version:    {ketch.__version__}",
        " Context:    default",
        f" Debug Mode: {str(cli.debug).lower()}",
        "",
        "Server:",
        f" Containers: {server.get('Containers', 0)}",
        f"  Running: {server.get('ContainersRunning', 0)}",
        f"  Paused: {server.get('ContainersPaused', 0)}",
        f"  Stopped: {server.get('ContainersStopped', 0)}",
        f" Images: {server.get('Images', 0)}",
        f" Server Version: {server.get('ServerVersion', '')}",
        f" Storage Driver: {server.get('Driver', '')}",
        f" Logging Driver: {server.get('LoggingDriver', '')}",
        f" Cgroup Driver: {server.get('CgroupDriver', '')}",
        f" Cgroup Version: {server.get('CgroupVersion', '')}",
        f" Kernel Version: {server.get('KernelVersion', '')}",
        f" Operating System: {server.get('OperatingSystem', '')}",
        f" OSType: {server.get('OSType', '')}",
        f" Architecture: {server.get('Architecture', '')}",
        f" CPUs: {server.get('NCPU', 0)}",
        f" Total Memory: {binary_size(server.get('MemTotal', 0))}",
        f" Name: {server.get('Name', '')}",
        f" ID: {server.get('ID', '')}",
        f" Docker Root Dir: {server.get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(server.get('Debug'))).lower()}",
    ]
    mirrors = (server.get("RegistryConfig") or {}).get("Mirrors") or []
    if mirrors:
        lines.append(" Registry Mirrors:")
        lines += [f"  {mirror}" for mirror in mirrors]
    for warning in server.get("Warnings") or []:
        cli.err(warning)
    cli.out("\n".join(lines))
    return 0


_FORMAT = Flag("format", "format", "f", STRING, help="Format output using a Go template")

ENTRIES = {
    "version": Entry(
        Command(
            "version",
            "version [OPTIONS]",
            "Show the ketch version information",
            [_FORMAT],
            max_args=0,
        ),
        version,
    ),
    "info": Entry(
        Command("info", "info [OPTIONS]", "Display system-wide information", [_FORMAT], max_args=0),
        info,
    ),
}
