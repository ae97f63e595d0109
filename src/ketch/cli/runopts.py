"""`run`/`create` options and how they become a POST /containers/create body.

Pure: the parsed command line in, (query, body) out, exactly as the docker CLI
would send them, so it can be checked against a table of docker command lines.
"""

from __future__ import annotations

from ketch.cli import mountopts, netopts, units
from ketch.cli.flags import BOOL, INT, LIST, STRING, Flag, Parsed, UsageError

# typing and collections.abc are kept off `run`'s import path (several ms per command); the
# annotations are strings, so the names are needed by checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

CONTAINER_FLAGS: list[Flag] = [
    Flag("attach", "attach", "a", LIST, help="Attach to STDIN, STDOUT or STDERR"),
    Flag("cpus", "cpus", None, STRING, help="Number of CPUs", metavar="decimal"),
    Flag("entrypoint", "entrypoint", None, STRING, help="Overwrite the default ENTRYPOINT"),
    Flag("env", "env", "e", LIST, help="Set environment variables", metavar="list"),
    Flag("env_file", "env-file", None, LIST, help="Read in a file of environment variables"),
    Flag("hostname", "hostname", "h", STRING, help="Container host name"),
    Flag("init", "init", None, BOOL, help="Run an init inside the container"),
    Flag("interactive", "interactive", "i", BOOL, help="Keep STDIN open even if not attached"),
    Flag("label", "label", "l", LIST, help="Set meta data on a container", metavar="list"),
    Flag("log_driver", "log-driver", None, STRING, help="Logging driver for the container"),
    Flag("log_opt", "log-opt", None, LIST, help="Log driver options", metavar="list"),
    Flag("memory", "memory", "m", STRING, help="Memory limit", metavar="bytes"),
    Flag("name", "name", None, STRING, help="Assign a name to the container"),
    # --net and --network (and their aliases) fill one list, in order, as in docker.
    Flag(
        "network",
        "network",
        None,
        LIST,
        help="Connect a container to a network",
        metavar="network",
        check=netopts.check_network,
    ),
    Flag("network", "net", None, LIST, check=netopts.check_network),
    Flag(
        "network_alias",
        "network-alias",
        None,
        LIST,
        help="Add network-scoped alias for the container",
    ),
    Flag("network_alias", "net-alias", None, LIST),
    Flag("ip", "ip", None, STRING, help="IPv4 address (e.g., 172.30.100.104)"),
    Flag("ip6", "ip6", None, STRING, help="IPv6 address (e.g., 2001:db8::33)"),
    Flag(
        "link", "link", None, LIST, help="Add link to another container", check=netopts.check_link
    ),
    Flag(
        "link_local_ip",
        "link-local-ip",
        None,
        LIST,
        help="Container IPv4/IPv6 link-local addresses",
    ),
    Flag(
        "mac_address",
        "mac-address",
        None,
        STRING,
        help="Container MAC address (e.g., 92:d0:c6:0a:29:33)",
    ),
    Flag(
        "publish_all",
        "publish-all",
        "P",
        BOOL,
        help="Publish all exposed ports to random ports",
    ),
    Flag("pids_limit", "pids-limit", None, INT, help="Tune container pids limit"),
    Flag("platform", "platform", None, STRING, help="Set platform if server is multi-platform"),
    Flag("privileged", "privileged", None, BOOL, help="Give extended privileges"),
    Flag("publish", "publish", "p", LIST, help="Publish a container's port(s) to the host"),
    Flag(
        "pull",
        "pull",
        None,
        STRING,
        "missing",
        help='Pull image before running ("always", "missing", "never")',
    ),
    Flag(
        "read_only",
        "read-only",
        None,
        BOOL,
        help="Mount the container's root filesystem as read only",
    ),
    Flag("restart", "restart", None, STRING, "no", help="Restart policy to apply"),
    Flag("rm", "rm", None, BOOL, help="Automatically remove the container when it exits"),
    Flag("stop_signal", "stop-signal", None, STRING, help="Signal to stop the container"),
    Flag("stop_timeout", "stop-timeout", None, INT, help="Timeout (in seconds) to stop"),
    Flag("tty", "tty", "t", BOOL, help="Allocate a pseudo-TTY"),
    Flag("user", "user", "u", STRING, help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag("volume", "volume", "v", LIST, help="Bind mount a volume", metavar="list"),
    Flag(
        "mount",
        "mount",
        None,
        LIST,
        help="Attach a filesystem mount to the container",
        metavar="mount",
        check=mountopts.check_mount,
    ),
    Flag(
        "volumes_from",
        "volumes-from",
        None,
        LIST,
        help="Mount volumes from the specified container(s)",
        metavar="list",
    ),
    Flag(
        "volume_driver",
        "volume-driver",
        None,
        STRING,
        help="Optional volume driver for the container",
    ),
    Flag("workdir", "workdir", "w", STRING, help="Working directory inside the container"),
    Flag("quiet", "quiet", "q", BOOL, help="Suppress the pull output"),
    Flag("cap_add", "cap-add", None, LIST, help="Add Linux capabilities"),
    Flag("cap_drop", "cap-drop", None, LIST, help="Drop Linux capabilities"),
    Flag("domainname", "domainname", None, STRING, help="Container NIS domain name"),
    Flag("expose", "expose", None, LIST, help="Expose a port or a range of ports"),
    Flag("tmpfs", "tmpfs", None, LIST, help="Mount a tmpfs directory"),
    Flag("shm_size", "shm-size", None, STRING, help="Size of /dev/shm"),
    Flag("ulimit", "ulimit", None, LIST, help="Ulimit options"),
    Flag(
        "add_host",
        "add-host",
        None,
        LIST,
        help="Add a custom host-to-IP mapping",
        check=netopts.check_extra_host,
    ),
    Flag("dns", "dns", None, LIST, help="Set custom DNS servers", check=netopts.check_dns),
    Flag("dns_option", "dns-option", None, LIST, help="Set DNS options"),
    Flag("dns_option", "dns-opt", None, LIST),
    Flag(
        "dns_search",
        "dns-search",
        None,
        LIST,
        help="Set custom DNS search domains",
        check=netopts.check_dns_search,
    ),
    Flag("security_opt", "security-opt", None, LIST, help="Security Options"),
]

RUN_ONLY_FLAGS: list[Flag] = [
    Flag("detach", "detach", "d", BOOL, help="Run container in background and print container ID"),
    Flag("sig_proxy", "sig-proxy", None, BOOL, True, help="Proxy received signals to the process"),
    Flag(
        "detach_keys",
        "detach-keys",
        None,
        STRING,
        help="Override the key sequence for detaching a container",
    ),
]

_STREAMS = ("stdin", "stdout", "stderr")


def env_values(items: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """`-e NAME` takes NAME's value from the caller's environment, as docker does."""
    if environ is None and items:
        import os  # only for `-e`: os costs every `run` ~1 ms to import

        environ = os.environ
    values = []
    for item in items:
        name, has_value, _ = item.partition("=")
        if not name:
            raise UsageError(f"invalid environment variable: {item}")
        if not has_value and environ is not None and name in environ:
            values.append(f"{name}={environ[name]}")
        else:
            values.append(item)
    return values


def read_env_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise UsageError(f"open {path}: {(error.strerror or str(error)).lower()}") from None
    return [line.lstrip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# Re-exported: the port grammar lives with the other network options.
parse_ports = netopts.parse_ports


def parse_volumes(specs: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """`-v src:dst[:mode]` binds go to HostConfig.Binds; a bare `-v /dst` is an anonymous
    volume in Config.Volumes, as the docker CLI splits them."""
    binds: list[str] = []
    anonymous: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if ":" in spec:
            binds.append(spec)
        elif spec.startswith("/"):
            anonymous[spec] = {}
        else:
            raise UsageError(f"invalid volume specification: '{spec}'")
    return binds, anonymous


def parse_restart(text: str) -> dict[str, Any]:
    name, _, count = text.partition(":")
    if name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise UsageError(
            f"invalid restart policy: unknown policy '{name}'; use one of "
            "'no', 'always', 'on-failure', or 'unless-stopped'"
        )
    retries = 0
    if count:
        if name != "on-failure":
            raise UsageError(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            )
        try:
            retries = int(count)
        except ValueError:
            raise UsageError(f"invalid restart policy: invalid count '{count}'") from None
    return {"Name": name, "MaximumRetryCount": retries}


def parse_log_opts(items: list[str]) -> dict[str, str]:
    options = {}
    for item in items:
        key, has_value, value = item.partition("=")
        if not has_value:
            raise UsageError(f"invalid key value pair format in log-opt: {item}")
        options[key] = value
    return options


def security_opts(items: list[str]) -> list[str]:
    """`--security-opt`, as the docker CLI sends it: a seccomp profile given by path goes as
    its (compacted) content; "unconfined" and "builtin" are names, not files."""
    options = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = item.partition(":")
        if not value and key != "no-new-privileges":
            raise UsageError(f'Invalid --security-opt: "{item}"')
        if key == "seccomp" and value not in ("unconfined", "builtin"):
            import json  # only for a profile given by path: json costs every `run` ~4 ms

            try:
                with open(value, encoding="utf-8") as handle:
                    profile = json.load(handle)
            except OSError as error:
                raise UsageError(
                    f"opening seccomp profile ({value}) failed: "
                    f"open {value}: {(error.strerror or '').lower()}"
                ) from None
            except ValueError as error:
                raise UsageError(
                    f"compacting json for seccomp profile ({value}) failed: {error}"
                ) from None
            item = "seccomp=" + json.dumps(profile, separators=(",", ":"))
        options.append(item)
    return options


def parse_labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def attach_streams(parsed: Parsed, detach: bool) -> tuple[bool, bool, bool]:
    """Which of stdin/stdout/stderr the container's attach fields name."""
    chosen = [stream.lower() for stream in parsed.attach]
    for stream in chosen:
        if stream not in _STREAMS:
            raise UsageError(
                f'invalid argument "{stream}" for "-a, --attach" flag: '
                "valid streams are STDIN, STDOUT and STDERR"
            )
    if chosen:
        if detach:
            raise UsageError("conflicting options: cannot specify both --attach and --detach")
        return "stdin" in chosen, "stdout" in chosen, "stderr" in chosen
    if detach:
        return False, False, False
    return bool(parsed.interactive), True, True


def create_request(parsed: Parsed, detach: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query, body) for POST /containers/create from a parsed run/create command line."""
    image, *command = parsed.args
    attach_stdin, attach_stdout, attach_stderr = attach_streams(parsed, detach)
    env = env_values([line for path in parsed.env_file for line in read_env_file(path)])
    env += env_values(parsed.env)
    endpoint_flags = netopts.EndpointFlags(
        aliases=parsed.network_alias,
        links=parsed.link,
        ipv4=parsed.ip or "",
        ipv6=parsed.ip6 or "",
        mac=parsed.mac_address or "",
        link_local=parsed.link_local_ip,
    )
    if endpoint_flags.mac and not netopts.is_mac_address(endpoint_flags.mac.strip()):
        raise UsageError(f"{endpoint_flags.mac} is not a valid mac address")
    exposed, port_bindings = parse_ports(parsed.publish)
    netopts.add_exposed(exposed, parsed.expose)
    binds, anonymous_volumes = parse_volumes(parsed.volume)
    if parsed.rm and parsed.restart not in ("", "no"):
        raise UsageError("conflicting options: cannot specify both --restart and --rm")

    entrypoint: list[str] | None = None
    if parsed.entrypoint is not None:
        entrypoint = [parsed.entrypoint] if parsed.entrypoint else []

    host_config: dict[str, Any] = {
        "Binds": binds or None,
        "VolumeDriver": parsed.volume_driver or "",
        "VolumesFrom": parsed.volumes_from or None,
        "NetworkMode": netopts.network_mode(parsed.network),
        "PortBindings": port_bindings,
        "PublishAllPorts": bool(parsed.publish_all),
        "Links": parsed.link or None,
        "RestartPolicy": parse_restart(parsed.restart),
        "AutoRemove": bool(parsed.rm),
        "Privileged": bool(parsed.privileged),
        "ReadonlyRootfs": bool(parsed.read_only),
        "LogConfig": {"Type": parsed.log_driver or "", "Config": parse_log_opts(parsed.log_opt)},
        "CapAdd": parsed.cap_add or None,
        "CapDrop": parsed.cap_drop or None,
        "Dns": parsed.dns,
        "DnsSearch": parsed.dns_search,
        "DnsOptions": parsed.dns_option,
        "ExtraHosts": parsed.add_host or None,
        "SecurityOpt": security_opts(parsed.security_opt) or None,
    }
    if parsed.memory:
        try:
            host_config["Memory"] = units.ram_in_bytes(parsed.memory)
        except ValueError as error:
            raise UsageError(
                f'invalid argument "{parsed.memory}" for "-m, --memory" flag: {error}'
            ) from None
    if parsed.cpus:
        try:
            host_config["NanoCpus"] = int(round(float(parsed.cpus) * 1e9))
        except ValueError:
            raise UsageError(
                f'invalid argument "{parsed.cpus}" for "--cpus" flag: failed to '
                f"parse {parsed.cpus} as a rational number"
            ) from None
    if parsed.pids_limit is not None:
        host_config["PidsLimit"] = parsed.pids_limit
    if parsed.init:
        host_config["Init"] = True
    if parsed.mount:
        host_config["Mounts"] = [mountopts.parse_mount(value) for value in parsed.mount]
    if parsed.shm_size:
        host_config["ShmSize"] = units.ram_in_bytes(parsed.shm_size)
    if parsed.tmpfs:
        host_config["Tmpfs"] = {
            spec.partition(":")[0]: spec.partition(":")[2] for spec in parsed.tmpfs
        }

    body: dict[str, Any] = {
        "Hostname": parsed.hostname or "",
        "Domainname": parsed.domainname or "",
        "User": parsed.user or "",
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        "ExposedPorts": exposed or None,
        "Tty": bool(parsed.tty),
        "OpenStdin": bool(parsed.interactive),
        "StdinOnce": bool(parsed.interactive) and attach_stdin,
        "Env": env,
        "Cmd": command or None,
        "Image": image,
        "Volumes": anonymous_volumes,  # docker's is a map made empty: `{}`, not null
        "WorkingDir": parsed.workdir or "",
        "Entrypoint": entrypoint,
        "Labels": parse_labels(parsed.label),
        "HostConfig": host_config,
        "NetworkingConfig": {
            "EndpointsConfig": netopts.endpoints_config(parsed.network, endpoint_flags)
        },
    }
    if parsed.stop_signal:
        body["StopSignal"] = parsed.stop_signal
    if parsed.stop_timeout is not None:
        body["StopTimeout"] = parsed.stop_timeout
    query: dict[str, Any] = {"name": parsed.name or None, "platform": parsed.platform or None}
    return query, body
