"""The daemon's configuration: dockerd's flags and daemon.json keys, merged.

A setting given both as a flag and in the file is an error, worded as dockerd
words it, so a user moving from Docker gets the same guidance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ketch.errors import InvalidArgument
from ketch.units import parse_size

DEFAULT_CONFIG_FILE = Path("/etc/ketch/daemon.json")
DEFAULT_DATA_ROOT = Path("/var/lib/ketch")
DEFAULT_EXEC_ROOT = Path("/run/ketch")
DEFAULT_CGROUP_PARENT = "ketch"
DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_LOG_MAX_FILE = 3

# daemon.json key -> (flag name as dockerd prints it, attribute of DaemonConfig)
FILE_KEYS: dict[str, str] = {
    "hosts": "hosts",
    "data-root": "data_root",
    "exec-root": "exec_root",
    "registry-mirrors": "registry_mirrors",
    "insecure-registries": "insecure_registries",
    "debug": "debug",
    "cgroup-parent": "cgroup_parent",
    "log-opts": "log_opts",
    "seccomp-profile": "seccomp_profile",
    "init-path": "init_path",
    "bridge": "bridge",
    "bip": "bip",
    "mtu": "mtu",
    "default-address-pools": "address_pools",
    "firewall-table": "firewall_table",
}

# argparse destination -> the daemon.json key the same setting has
FLAG_TO_KEY: dict[str, str] = {
    "hosts": "hosts",
    "data_root": "data-root",
    "exec_root": "exec-root",
    "registry_mirrors": "registry-mirrors",
    "insecure_registries": "insecure-registries",
    "debug": "debug",
    "cgroup_parent": "cgroup-parent",
    "seccomp_profile": "seccomp-profile",
    "init_path": "init-path",
    "bridge": "bridge",
    "bip": "bip",
    "mtu": "mtu",
    "address_pools": "default-address-pools",
    "firewall_table": "firewall-table",
}

DEFAULT_BRIDGE = "ketch0"
DEFAULT_FIREWALL_TABLE = "ketch"


@dataclass
class DaemonConfig:
    hosts: list[str] = field(default_factory=list)
    data_root: Path = DEFAULT_DATA_ROOT
    exec_root: Path = DEFAULT_EXEC_ROOT
    registry_mirrors: list[str] = field(default_factory=list)
    insecure_registries: list[str] = field(default_factory=list)
    debug: bool = False
    cgroup_parent: str = DEFAULT_CGROUP_PARENT
    log_opts: dict[str, str] = field(default_factory=dict)
    # dockerd's seccomp-profile: a Docker-format profile file for every container,
    # "unconfined", or empty / "builtin": Docker's default profile.
    seccomp_profile: str = ""
    # dockerd's init-path: the init binary `run --init` puts in front of the
    # command; empty means the first of INIT_CANDIDATES found.
    init_path: str = ""
    # dockerd's bridge, bip, mtu and default-address-pools: the default bridge's link name,
    # its address (CIDR), the containers' MTU (0: the host's), the pools user networks'
    # subnets come from ({"base": CIDR, "size": prefix length}).
    bridge: str = DEFAULT_BRIDGE
    bip: str = ""
    mtu: int = 0
    address_pools: list[dict[str, Any]] = field(default_factory=list)
    # ketch's own nftables table; nothing outside it is touched.
    firewall_table: str = DEFAULT_FIREWALL_TABLE

    @property
    def api_hosts(self) -> list[str]:
        return self.hosts or [f"unix://{self.exec_root}/ketch.sock"]

    @property
    def log_max_size(self) -> int:
        return parse_size(self.log_opts.get("max-size")) or DEFAULT_LOG_MAX_SIZE

    @property
    def log_max_file(self) -> int:
        raw = self.log_opts.get("max-file")
        return int(raw) if raw else DEFAULT_LOG_MAX_FILE


def load_file(path: Path, explicit: bool) -> dict[str, Any]:
    """daemon.json as a dict; a missing default file is an empty config."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        if explicit:
            raise InvalidArgument(
                f"unable to configure the Docker daemon with file {path}: "
                f"open {path}: no such file or directory"
            ) from None
        return {}
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"unable to configure the Docker daemon with file {path}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"unable to configure the Docker daemon with file {path}")
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise InvalidArgument(
            f"the following directives don't match any configuration option: {', '.join(unknown)}"
        )
    return data


def merge(flags: dict[str, Any], file_values: dict[str, Any], path: Path) -> DaemonConfig:
    """Combine explicitly given flags (None = not given) with daemon.json's values."""
    given = {dest: value for dest, value in flags.items() if value not in (None, [], False)}
    clashes = [
        f"{FLAG_TO_KEY[dest]}: (from flag: {_show(value)}, from file: "
        f"{_show(file_values[FLAG_TO_KEY[dest]])})"
        for dest, value in given.items()
        if FLAG_TO_KEY.get(dest) in file_values
    ]
    if clashes:
        raise InvalidArgument(
            f"unable to configure the Docker daemon with file {path}: the following "
            f"directives are specified both as a flag and in the configuration file: "
            f"{', '.join(clashes)}"
        )
    config = DaemonConfig()
    for key, value in file_values.items():
        _set(config, FILE_KEYS[key], value, key)
    for dest, value in given.items():
        if dest in FLAG_TO_KEY:
            _set(config, dest, value, FLAG_TO_KEY[dest])
    return config


def _set(config: DaemonConfig, attr: str, value: Any, key: str) -> None:
    if attr in ("data_root", "exec_root"):
        if not isinstance(value, str | Path):
            raise InvalidArgument(f"invalid value for {key}: {value!r}")
        value = Path(value).absolute()
    elif attr in ("hosts", "registry_mirrors", "insecure_registries"):
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise InvalidArgument(f"invalid value for {key}: {value!r}")
        value = list(value)
        if attr == "registry_mirrors":
            value = [validate_mirror(v) for v in value]
    elif attr == "debug":
        if not isinstance(value, bool):
            raise InvalidArgument(f"invalid value for {key}: {value!r}")
    elif attr in ("seccomp_profile", "init_path"):
        if not isinstance(value, str):
            raise InvalidArgument(f"invalid value for {key}: {value!r}")
    elif attr in ("bridge", "firewall_table"):
        # A link name has at most 15 bytes (IFNAMSIZ); a table's name is an identifier.
        longest = 15 if attr == "bridge" else 64
        if (not isinstance(value, str) or not 0 < len(value) <= longest
                or not value.replace("-", "_").isidentifier()):  # fmt: skip
            raise InvalidArgument(f"invalid value for {key}: {value!r}")
    elif attr == "bip":
        value = _cidr(value, key)
    elif attr == "mtu":
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
            raise InvalidArgument(f"invalid value for {key}: {value!r}")
    elif attr == "address_pools":
        value = [_pool(pool, key) for pool in (value if isinstance(value, list) else [value])]
    elif attr == "cgroup_parent":
        if not isinstance(value, str) or not value.strip("/"):
            raise InvalidArgument(f"invalid value for {key}: {value!r}")
    elif attr == "log_opts":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise InvalidArgument(f"invalid value for {key}: {value!r}")
        parse_size(value.get("max-size"))
        if value.get("max-file") is not None and not value["max-file"].isdigit():
            raise InvalidArgument(f"invalid value for max-file: {value['max-file']!r}")
        value = dict(value)
    setattr(config, attr, value)


def _cidr(value: Any, key: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Interface(str(value)))
    except ValueError:
        raise InvalidArgument(f"invalid value for {key}: {value!r}") from None


def _pool(value: Any, key: str) -> dict[str, Any]:
    """{"base": "10.89.0.0/16", "size": 24}, or the flag's "base=10.89.0.0/16,size=24"."""
    if isinstance(value, str):
        value = dict(part.partition("=")[::2] for part in value.split(","))
    if not isinstance(value, dict) or "base" not in value or "size" not in value:
        raise InvalidArgument(f"invalid value for {key}: {value!r}")
    base = _cidr(value["base"], key)
    try:
        size = int(value["size"])
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid value for {key}: {value!r}") from None
    if not int(base.rpartition("/")[2]) <= size <= 30:
        raise InvalidArgument(f"invalid value for {key}: {value!r}")
    return {"base": base, "size": size}


def validate_mirror(url: str) -> str:
    """dockerd's rule: a mirror is an http(s) URL without a path beyond '/'."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f'invalid mirror: unsupported scheme "{parts.scheme}" in "{url}"')
    if parts.path not in ("", "/"):
        raise InvalidArgument(f'invalid mirror: path is not supported in "{url}"')
    return url.rstrip("/")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
