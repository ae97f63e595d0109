"""ketchd: the one place that wires config, services, restore and the API server.

Imports stay inside functions so `ketchd --help` and a start are quick.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ketch.api.backend import Backend, BuildBackend
    from ketch.build.options import BuildOptions
    from ketch.config import DaemonConfig
    from ketch.content import ContentStore


def build_parser() -> argparse.ArgumentParser:
    # Defaults are None so merging can tell a given flag from an omitted one,
    # as dockerd does when it refuses a flag that daemon.json also sets.
    parser = argparse.ArgumentParser(prog="ketchd", description="The ketch container engine.")
    parser.add_argument(
        "-H",
        "--host",
        dest="hosts",
        action="append",
        default=None,
        help="daemon socket(s) to listen on (unix://path)",
    )
    parser.add_argument(
        "--data-root",
        dest="data_root",
        default=None,
        help="root of persistent state (default /var/lib/ketch)",
    )
    parser.add_argument(
        "--exec-root",
        dest="exec_root",
        default=None,
        help="root of runtime state and sockets (default /run/ketch)",
    )
    parser.add_argument(
        "--config-file",
        dest="config_file",
        default=None,
        help="daemon configuration file (default /etc/ketch/daemon.json)",
    )
    parser.add_argument(
        "--registry-mirror",
        dest="registry_mirrors",
        action="append",
        default=None,
        help="preferred Docker registry mirror",
    )
    parser.add_argument(
        "--insecure-registry",
        dest="insecure_registries",
        action="append",
        default=None,
        help="registry reachable over plain HTTP",
    )
    parser.add_argument(
        "-D",
        "--debug",
        dest="debug",
        action="store_true",
        default=None,
        help="enable debug logging",
    )
    parser.add_argument(
        "--seccomp-profile",
        dest="seccomp_profile",
        default=None,
        help="default seccomp profile (Docker format), 'builtin' (Docker's, the default) "
        "or 'unconfined'",
    )
    parser.add_argument(
        "--init-path",
        dest="init_path",
        default=None,
        help="path to the init binary of `run --init` (default: tini-static or docker-init)",
    )
    parser.add_argument(
        "-b",
        "--bridge",
        dest="bridge",
        default=None,
        help="the default bridge's link name (default ketch0)",
    )
    parser.add_argument(
        "--bip", dest="bip", default=None, help="the default bridge's address, as a CIDR"
    )
    parser.add_argument(
        "--mtu", dest="mtu", type=int, default=None, help="containers' MTU (default: the host's)"
    )
    parser.add_argument(
        "--default-address-pool",
        dest="address_pools",
        action="append",
        default=None,
        help="pool of user networks' subnets: base=CIDR,size=N",
    )
    parser.add_argument(
        "--firewall-table",
        dest="firewall_table",
        default=None,
        help="ketch's own nftables table (default ketch)",
    )
    parser.add_argument(
        "--cgroup-parent",
        dest="cgroup_parent",
        default=None,
        help="parent cgroup of all containers (default ketch)",
    )
    return parser


def load_config(argv: list[str] | None = None) -> DaemonConfig:
    from ketch import config

    args = build_parser().parse_args(argv)
    explicit = args.config_file is not None
    path = Path(args.config_file) if explicit else config.DEFAULT_CONFIG_FILE
    file_values = config.load_file(path, explicit)
    flags = {k: v for k, v in vars(args).items() if k != "config_file"}
    return config.merge(flags, file_values, path)


def main(argv: list[str] | None = None) -> int:
    from ketch.errors import KetchError

    try:
        cfg = load_config(argv)
    except KetchError as exc:
        print(f"ketchd: {exc.message}", file=sys.stderr)
        return 1
    import logging

    logging.basicConfig(
        level=logging.DEBUG if cfg.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # A line per netlink message otherwise (network/links.py sets it again when it imports
    # pyroute2, whose import resets it).
    logging.getLogger("pyroute2").setLevel(logging.WARNING)
    locks: list[PidLock] = []
    try:
        # Both roots: two daemons sharing either would corrupt each other's state.
        locks.append(PidLock.acquire(cfg.exec_root / "ketchd.pid"))
        locks.append(PidLock.acquire(cfg.data_root / "lock"))
    except AlreadyRunning as exc:
        print(f"ketchd: {exc}", file=sys.stderr)
        for lock in locks:
            lock.release()
        return 1
    try:
        import asyncio

        try:
            asyncio.run(serve(cfg))
        except KetchError as exc:
            print(f"ketchd: {exc.message}", file=sys.stderr)
            return 1
    finally:
        for lock in reversed(locks):
            lock.release()
    return 0


class AlreadyRunning(Exception):
    pass


class PidLock:
    """An flock'ed pidfile: the kernel drops the lock when ketchd dies, even by SIGKILL."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def acquire(cls, path: Path) -> PidLock:
        import fcntl
        import os

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(
                f"pid file found, ensure ketchd is not running or delete {path}: "
                f"ketchd (pid {holder}) already uses {path.parent}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        import os

        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)


async def serve(cfg: DaemonConfig) -> None:
    """Wire services, restore containers, serve the API until SIGTERM/SIGINT."""
    import asyncio
    import logging
    import signal

    from ketch.api.server import ApiServer

    log = logging.getLogger("ketchd")
    backend = await build_backend(cfg)
    server = ApiServer(backend)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("API listening on %s", ", ".join(cfg.api_hosts))
    try:
        await stop.wait()
    finally:
        log.info("shutting down; running containers keep running")
        await server.stop()
        await backend.close()


# What dockerd's docker-init is on Debian: tini, static so it runs in any image.
INIT_CANDIDATES = ("/usr/bin/tini-static", "docker-init", "tini-static")


def find_init(setting: str) -> str | None:
    """The init binary for `run --init`: the configured one, else the first found."""
    import os
    import shutil

    from ketch.errors import InvalidArgument

    if setting:
        if not os.access(setting, os.X_OK):
            raise InvalidArgument(f"init-path {setting}: not an executable file")
        return os.path.abspath(setting)
    for candidate in INIT_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def load_seccomp_profile(setting: str) -> dict[str, Any] | None:
    """The default profile for containers, as dockerd's seccomp-profile: unset or "builtin"
    is Docker's default profile, "unconfined" none, else a file; a bad file stops ketchd,
    as it stops dockerd."""
    import json

    from ketch.errors import InvalidArgument
    from ketch.runtime.seccomp import default_profile

    if setting == "unconfined":
        return None
    if not setting or setting == "builtin":
        return default_profile()
    try:
        profile = json.loads(Path(setting).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"failed to load seccomp profile {setting}: {exc}") from None
    if not isinstance(profile, dict):
        raise InvalidArgument(f"failed to load seccomp profile {setting}: not an object")
    return profile


def daemon_id(data_root: Path) -> str:
    """A stable identity for `info`, made once per data root."""
    import uuid

    path = data_root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = str(uuid.uuid4())
        path.write_text(value + "\n")
        return value


# A partial download nobody resumed for this long is only disk spent: a pull resumes
# its own partials within seconds, or on the next attempt, which is rarely a day away.
STALE_INGEST_SECONDS = 24 * 3600


def prune_partial_downloads(content: ContentStore) -> None:
    """Drop day-old partial downloads; one a pull holds (locked) stays whatever its age."""
    import logging

    removed = content.prune_ingests(older_than=STALE_INGEST_SECONDS)
    if removed:
        logging.getLogger("ketchd").info(
            "removed %d partial download(s) untouched for a day: %s", len(removed), removed
        )


async def build_backend(cfg: DaemonConfig) -> Backend:
    """Construct the services, restore containers, and say how to close them."""
    import asyncio

    from ketch.api.backend import Backend
    from ketch.containers.bundle import BundleSettings
    from ketch.containers.events import EventBus
    from ketch.containers.service import ContainerService
    from ketch.containers.shims import ShimBackend
    from ketch.containers.supervisor import RunSettings
    from ketch.content import ContentStore
    from ketch.images.service import ImageService
    from ketch.network.dns import DnsServer, host_resolvers
    from ketch.network.manager import NetworkManager
    from ketch.registry import RegistryConfig
    from ketch.snapshots import SnapshotStore

    for root in (cfg.data_root, cfg.exec_root):
        root.mkdir(parents=True, exist_ok=True, mode=0o711)
    content = ContentStore(cfg.data_root / "content")
    prune_partial_downloads(content)
    snapshots = SnapshotStore(cfg.data_root / "snapshots")
    registry_config = RegistryConfig(
        mirrors=list(cfg.registry_mirrors), insecure=list(cfg.insecure_registries)
    )
    images = ImageService(cfg.data_root / "images", content, snapshots, registry_config)
    shims = ShimBackend(cfg.exec_root)
    events = EventBus()
    # The network part emits from its worker threads too; the bus is the loop's.
    loop = asyncio.get_running_loop()

    def publish_from_any_thread(kind: str, action: str, actor: str, attrs: dict[str, str]) -> None:
        loop.call_soon_threadsafe(events.publish, kind, action, actor, attrs)
    networks = NetworkManager(
        cfg.data_root / "network",
        bridge=cfg.bridge,
        bip=cfg.bip,
        address_pools=[(pool["base"], pool["size"]) for pool in cfg.address_pools] or None,
        mtu=cfg.mtu,
        table=cfg.firewall_table,
        on_event=publish_from_any_thread,
    )
    networks.dns = DnsServer(
        networks.resolve, host_resolvers(), upstreams_for=networks.upstreams_for,
        resolve_link=networks.resolve_link,
    )
    containers = ContainerService(
        cfg.data_root / "containers",
        images,
        snapshots,
        shims,
        events=events,
        run=RunSettings(cfg.cgroup_parent, cfg.log_max_size, cfg.log_max_file),
        bundle=BundleSettings(load_seccomp_profile(cfg.seccomp_profile), find_init(cfg.init_path)),
        networks=networks,
    )
    images.image_in_use = containers.image_user
    images.image_running = containers.image_running_user
    await containers.restore()
    live = {row["Id"] for row in containers.list(all=True) if row["State"] == "running"}
    await asyncio.to_thread(networks.restore, live)
    await networks.serve_dns()

    async def close_networks() -> None:
        networks.close()  # links and rules stay: running containers keep forwarding

    def make_builder() -> BuildBackend:
        from ketch.build.service import BuildService
        from ketch.build.tools import real_tools

        return BuildService(cfg.data_root / "builder", images, containers, snapshots,
                            real_tools())  # fmt: skip

    builder = LazyBuilder(make_builder)
    backend = Backend(
        config=cfg,
        daemon_id=daemon_id(cfg.data_root),
        images=images,
        containers=containers,
        execs=containers.execs,
        files=containers.files,
        events=events,
        networks_service=networks,
        build_service=builder,
        volumes_service=containers.volumes,
        init_path=containers.init_path,
        closers=[networks.close_dns, containers.close, close_networks],
    )
    # Warm the fork server now, off the first `run`'s path; a failure shows at that run.
    warm = asyncio.ensure_future(shims.forkserver())
    warm.add_done_callback(lambda task: task.cancelled() or task.exception())
    return backend

class LazyBuilder:
    """The builder, made at the first request that needs it: its ~30 modules (the
    Dockerfile parser, the executor, COPY's machinery) are ~1.2 MiB of an idle daemon that
    may never build. Making it clears what a killed daemon's builds left in its tmp."""

    def __init__(self, make: Callable[[], BuildBackend]) -> None:
        self._make = make
        self._service: BuildBackend | None = None

    def service(self) -> BuildBackend:
        if self._service is None:
            self._service = self._make()
        return self._service

    def build(
        self, options: BuildOptions, context: AsyncIterator[bytes]
    ) -> AsyncIterator[dict[str, Any]]:
        return self.service().build(options, context)

    async def prune(
        self, *, all: bool = False, filters: dict[str, Any] | None = None,
        keep_storage: int | None = None,
    ) -> tuple[list[str], int]:  # fmt: skip
        return await self.service().prune(all=all, filters=filters, keep_storage=keep_storage)

    def cache_usage(self) -> list[dict[str, Any]]:
        return self.service().cache_usage()


if __name__ == "__main__":
    sys.exit(main())
