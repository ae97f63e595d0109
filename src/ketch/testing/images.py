"""Small real images made offline, for tests: busybox, hello-world and redis.

Built from files on this machine (busybox-static, redis-server) and a
generated static ELF, deterministically (fixed mtimes, sorted entries, gzip
without a timestamp), so the same builder gives the same digests every run.
`push` puts them on a registry through ketch's own registry client.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ketch.oci import mediatypes
from ketch.oci.digest import sha256_digest
from ketch.oci.platform import host_platform
from ketch.testing.elf import static_executable

try:  # the same fast gzip ketch reads layers with
    from isal import igzip as gzip_module
except ImportError:  # pragma: no cover
    import gzip as gzip_module  # type: ignore[no-redef]

if TYPE_CHECKING:
    from ketch.oci.reference import Reference
    from ketch.registry import RegistryClient

# Every file and every config carries this time, so digests never change.
EPOCH = 1_700_000_000
CREATED = "2023-11-14T22:13:20Z"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = Path("/bin/busybox")
REDIS_SERVER = Path("/usr/bin/redis-server")
REDIS_CLI = Path("/usr/bin/redis-cli")

HELLO_MESSAGE = """
Hello from Ketch!
This message shows that your installation appears to be working correctly.

To generate this message, Ketch took the following steps:
 1. The Ketch client contacted the Ketch daemon.
 2. The Ketch daemon pulled the "hello-world" image from the registry.
 3. The Ketch daemon created a new container from that image which runs the
    executable that produces the output you are currently reading.
 4. The Ketch daemon streamed that output to the Ketch client, which sent it
    to your terminal.

To try something more ambitious, you can run a busybox container with:
 $ ketch run -it busybox sh
"""

LAYER_MEDIA_TYPES = {
    mediatypes.DOCKER_MANIFEST: mediatypes.DOCKER_LAYER_GZIP,
    mediatypes.OCI_MANIFEST: mediatypes.OCI_LAYER_GZIP,
}
CONFIG_MEDIA_TYPES = {
    mediatypes.DOCKER_MANIFEST: mediatypes.DOCKER_CONFIG,
    mediatypes.OCI_MANIFEST: mediatypes.OCI_CONFIG,
}
INDEX_FOR_MANIFEST = {
    mediatypes.DOCKER_MANIFEST: mediatypes.DOCKER_MANIFEST_LIST,
    mediatypes.OCI_MANIFEST: mediatypes.OCI_INDEX,
}


# -- layers ------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One entry of a layer tar. `kind` is file, dir, symlink, hardlink, chardev or fifo."""

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int | None = None
    target: str = ""
    uid: int = 0
    gid: int = 0
    device: tuple[int, int] = (0, 0)
    xattrs: dict[str, str] = field(default_factory=dict)


TAR_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chardev": tarfile.CHRTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def file(path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path, "file", data, mode, uid=uid, gid=gid)


def directory(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path, "dir", mode=mode, uid=uid, gid=gid)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, "symlink", mode=0o777, target=target)


def whiteout(path: str) -> Entry:
    """A whiteout in the tar's own (AUFS) form: `.wh.<name>` hides `<name>`."""
    where = PurePosixPath(path)
    return file(str(where.parent / f".wh.{where.name}"), b"")


def with_parents(entries: Iterable[Entry]) -> list[Entry]:
    """Add the directories a tar needs before their children, Docker-style."""
    by_path: dict[str, Entry] = {}
    for entry in entries:
        key = entry.path.strip("/")
        if key in by_path:
            raise ValueError(f"two entries for {key!r} in one layer")
        by_path[key] = entry
    for path in list(by_path):
        for parent in PurePosixPath(path).parents:
            name = str(parent)
            if name != "." and name not in by_path:
                by_path[name] = directory(name)
    return [by_path[p] for p in sorted(by_path)]


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed PAX tar of `entries`, sorted, parents first, fixed times."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in with_parents(entries):
            info = tarfile.TarInfo(entry.path.strip("/") + ("/" if entry.kind == "dir" else ""))
            info.type = TAR_TYPES[entry.kind]
            info.mtime = EPOCH
            info.uid, info.gid = entry.uid, entry.gid
            info.uname = info.gname = ""
            default_mode = 0o755 if entry.kind == "dir" else 0o644
            info.mode = entry.mode if entry.mode is not None else default_mode
            info.linkname = entry.target
            info.devmajor, info.devminor = entry.device
            if entry.xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry.xattrs.items()}
            if entry.kind == "file":
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return out.getvalue()


def gzip_layer(tar: bytes) -> bytes:
    # No timestamp and no name in the gzip header: same input, same digest.
    return gzip_module.compress(tar, mtime=0)


# -- images ------------------------------------------------------------------


@dataclass(frozen=True)
class TestImage:
    """An image as a registry holds it: config, gzip layers, schema2 manifest."""

    __test__ = False  # not a pytest test class, despite the name

    repo: str
    tag: str
    config: dict[str, Any]
    layers: list[bytes]
    manifest: dict[str, Any]

    @property
    def config_bytes(self) -> bytes:
        return canonical_json(self.config)

    @property
    def config_digest(self) -> str:
        """The image ID."""
        return sha256_digest(self.config_bytes)

    @property
    def id(self) -> str:
        return self.config_digest

    @property
    def layer_digests(self) -> list[str]:
        return [sha256_digest(layer) for layer in self.layers]

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config["rootfs"]["diff_ids"])

    @property
    def platform(self) -> dict[str, str]:
        found = {"os": self.config["os"], "architecture": self.config["architecture"]}
        if self.config.get("variant"):
            found["variant"] = self.config["variant"]
        return found

    @property
    def manifest_bytes(self) -> bytes:
        return canonical_json(self.manifest)

    @property
    def manifest_digest(self) -> str:
        return sha256_digest(self.manifest_bytes)

    def manifest_as(self, media_type: str) -> bytes:
        """The manifest in Docker schema2 or OCI form (the blobs are the same)."""
        return canonical_json(build_manifest(self.config_bytes, self.layers, media_type))


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def build_manifest(config: bytes, layers: list[bytes], media_type: str) -> dict[str, Any]:
    if media_type not in LAYER_MEDIA_TYPES:
        raise ValueError(f"not an image manifest type: {media_type}")
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPES[media_type],
            "size": len(config),
            "digest": sha256_digest(config),
        },
        "layers": [
            {
                "mediaType": LAYER_MEDIA_TYPES[media_type],
                "size": len(layer),
                "digest": sha256_digest(layer),
            }
            for layer in layers
        ],
    }


def make_image(
    repo: str,
    tag: str,
    layer_tars: list[bytes],
    container_config: dict[str, Any],
    history: list[str],
    architecture: str | None = None,
) -> TestImage:
    """An image from uncompressed layer tars; `history` says what made each layer."""
    platform = host_platform()
    if architecture is not None:
        platform = {"os": "linux", "architecture": architecture}
        if architecture == "arm64":
            platform["variant"] = "v8"
    config: dict[str, Any] = {
        "architecture": platform["architecture"],
        "os": platform["os"],
        "created": CREATED,
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(t) for t in layer_tars]},
        "history": [{"created": CREATED, "created_by": step} for step in history],
    }
    if "variant" in platform:
        config["variant"] = platform["variant"]
    layers = [gzip_layer(t) for t in layer_tars]
    manifest = build_manifest(canonical_json(config), layers, mediatypes.DOCKER_MANIFEST)
    return TestImage(repo, tag, config, layers, manifest)


def extend(
    base: TestImage,
    repo: str,
    tag: str,
    entries: Iterable[Entry],
    config_changes: dict[str, Any] | None = None,
) -> TestImage:
    """A new image: `base`'s layers (shared, byte for byte) plus one layer of `entries`."""
    tar = layer_tar(entries)
    container_config = {**base.config.get("config", {}), **(config_changes or {})}
    config = json.loads(json.dumps(base.config))
    config["config"] = container_config
    config["rootfs"]["diff_ids"].append(sha256_digest(tar))
    config["history"].append({"created": CREATED, "created_by": f"ADD layer to {repo}:{tag}"})
    layers = [*base.layers, gzip_layer(tar)]
    manifest = build_manifest(canonical_json(config), layers, mediatypes.DOCKER_MANIFEST)
    return TestImage(repo, tag, config, layers, manifest)


def for_platform(image: TestImage, architecture: str) -> TestImage:
    """The same image labelled for another architecture (for multi-platform indexes)."""
    config = json.loads(json.dumps(image.config))
    config["architecture"] = architecture
    config.pop("variant", None)
    if architecture == "arm64":
        config["variant"] = "v8"
    manifest = build_manifest(canonical_json(config), image.layers, mediatypes.DOCKER_MANIFEST)
    return TestImage(image.repo, image.tag, config, image.layers, manifest)


def passwd_entries(users: list[tuple[str, int, int, str, str]]) -> list[Entry]:
    """/etc/passwd and /etc/group from (name, uid, gid, home, shell) rows."""
    passwd = "".join(f"{n}:x:{u}:{g}:{n}:{h}:{s}\n" for n, u, g, h, s in users)
    group = "".join(f"{n}:x:{g}:\n" for n, _, g, _, _ in users)
    return [file("etc/passwd", passwd.encode()), file("etc/group", group.encode())]


def base_directories() -> list[Entry]:
    return [
        directory("dev"),
        directory("proc"),
        directory("sys"),
        directory("etc"),
        directory("root", 0o700),
        directory("tmp", 0o1777),
        directory("var"),
    ]


@functools.cache
def hello_world(machine: str | None = None) -> TestImage:
    """A single static executable printing a Docker-style greeting; Cmd ["/hello"]."""
    executable = static_executable(HELLO_MESSAGE.encode(), machine)
    tar = layer_tar([file("hello", executable, 0o755)])
    return make_image(
        "hello-world",
        "latest",
        [tar],
        {"Cmd": ["/hello"], "Env": [f"PATH={DEFAULT_PATH}"]},
        ["COPY hello / # buildkit"],
    )


def busybox_applets(binary: Path = BUSYBOX) -> list[str]:
    listing = subprocess.run([str(binary), "--list"], capture_output=True, text=True, check=True)
    return sorted(n for n in listing.stdout.split() if n and "/" not in n and n != binary.name)


@functools.cache
def busybox() -> TestImage:
    """busybox-static with an applet symlink per command in /bin; Cmd ["sh"]."""
    entries = [file("bin/busybox", BUSYBOX.read_bytes(), 0o755)]
    entries += [symlink(f"bin/{applet}", "busybox") for applet in busybox_applets()]
    entries += base_directories()
    entries += [directory("home"), directory("home/user", 0o755, 1000, 1000)]
    entries += passwd_entries(
        [
            ("root", 0, 0, "/root", "/bin/sh"),
            # the official image's system users, which clients' tests run as (operator)
            ("daemon", 1, 1, "/usr/sbin", "/bin/false"),
            ("bin", 2, 2, "/bin", "/bin/false"),
            ("sys", 3, 3, "/dev", "/bin/false"),
            ("mail", 8, 8, "/var/spool/mail", "/bin/false"),
            ("www-data", 33, 33, "/var/www", "/bin/false"),
            ("operator", 37, 37, "/var", "/bin/false"),
            ("user", 1000, 1000, "/home/user", "/bin/sh"),
            ("nobody", 65534, 65534, "/nonexistent", "/bin/false"),
        ]
    )
    return make_image(
        "busybox",
        "latest",
        [layer_tar(entries)],
        {"Cmd": ["sh"], "Env": [f"PATH={DEFAULT_PATH}"]},
        ['BusyBox static, CMD ["sh"]'],
    )


LDD_LINE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)$")


def shared_libraries(binary: Path) -> list[str]:
    """The absolute paths `ldd` resolves for a binary, the dynamic loader included."""
    listing = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True)
    found = []
    for line in listing.stdout.splitlines():
        match = LDD_LINE.match(line)
        if match:
            found.append(match.group(1))
    return found


def host_file(path: str, mode: int = 0o755) -> Entry:
    """A host file's bytes at the same path; symlinks are read through."""
    return file(path.lstrip("/"), Path(os.path.realpath(path)).read_bytes(), mode)


@functools.cache
def redis() -> TestImage:
    """The host's redis-server and redis-cli with their libraries, shaped like the
    official image: two layers (system files, then redis), /data, port 6379."""
    libraries = sorted({lib for b in (REDIS_SERVER, REDIS_CLI) for lib in shared_libraries(b)})
    system = [host_file(lib) for lib in libraries]
    system += base_directories()
    system += [directory("data", 0o755, 999, 999)]
    system += passwd_entries(
        [("root", 0, 0, "/root", "/bin/sh"), ("redis", 999, 999, "/home/redis", "/bin/false")]
    )
    # redis-server is a symlink to redis-check-rdb and picks its mode from
    # argv[0]: the real file goes in under the name redis-server.
    server = REDIS_SERVER.resolve().read_bytes()
    redis_layer = [
        file("usr/local/bin/redis-server", server, 0o755),
        file("usr/local/bin/redis-cli", REDIS_CLI.read_bytes(), 0o755),
    ]
    return make_image(
        "redis",
        "latest",
        [layer_tar(system), layer_tar(redis_layer)],
        {
            "Cmd": ["redis-server", "--protected-mode", "no"],
            "Env": [f"PATH={DEFAULT_PATH}"],
            "ExposedPorts": {"6379/tcp": {}},
            "WorkingDir": "/data",
            "StopSignal": "SIGTERM",
        },
        ["COPY libraries and /etc / # buildkit", "COPY redis-server redis-cli /usr/local/bin/"],
    )


# -- pushing -----------------------------------------------------------------


def registry_domain(registry_url: str) -> str:
    """`http://127.0.0.1:5000` -> `127.0.0.1:5000`."""
    return registry_url.split("://", 1)[-1].rstrip("/")


async def _push_blobs_and_manifest(
    client: RegistryClient, reference: Reference, image: TestImage, media_type: str, locator: str
) -> tuple[str, int]:
    from ketch.oci.reference import Reference

    for layer in image.layers:
        await client.push_blob(reference, layer, sha256_digest(layer))
    await client.push_blob(reference, image.config_bytes, image.config_digest)
    raw = image.manifest_as(media_type)
    target = Reference(reference.domain, reference.path, locator, None)
    if locator.startswith("sha256:"):
        target = Reference(reference.domain, reference.path, None, locator)
    digest = await client.push_manifest(target, raw, media_type)
    return digest, len(raw)


async def push(
    image: TestImage,
    registry_url: str,
    repo: str | None = None,
    tag: str | None = None,
    media_type: str = mediatypes.DOCKER_MANIFEST,
) -> str:
    """Push `image` as `<registry>/<repo>:<tag>`; returns the manifest's digest.

    `media_type` picks Docker schema2 or OCI manifests (same blobs, labelled
    accordingly).
    """
    from ketch.oci.reference import parse
    from ketch.registry import RegistryClient, RegistryConfig

    domain = registry_domain(registry_url)
    reference = parse(f"{domain}/{repo or image.repo}:{tag or image.tag}")
    async with RegistryClient(RegistryConfig(insecure=[domain])) as client:
        digest, _ = await _push_blobs_and_manifest(
            client, reference, image, media_type, reference.tag or "latest"
        )
    return digest


async def push_index(
    images: list[TestImage],
    registry_url: str,
    repo: str,
    tag: str,
    media_type: str = mediatypes.OCI_MANIFEST,
) -> str:
    """Push several platforms' images under one tag, as an OCI index (or a
    Docker manifest list for schema2 manifests); returns the index digest."""
    from ketch.oci.reference import parse
    from ketch.registry import RegistryClient, RegistryConfig

    domain = registry_domain(registry_url)
    reference = parse(f"{domain}/{repo}:{tag}")
    entries = []
    async with RegistryClient(RegistryConfig(insecure=[domain])) as client:
        for image in images:
            raw = image.manifest_as(media_type)
            digest, size = await _push_blobs_and_manifest(
                client, reference, image, media_type, sha256_digest(raw)
            )
            entries.append(
                {
                    "mediaType": media_type,
                    "size": size,
                    "digest": digest,
                    "platform": image.platform,
                }
            )
        index_type = INDEX_FOR_MANIFEST[media_type]
        raw_index = canonical_json(
            {"schemaVersion": 2, "mediaType": index_type, "manifests": entries}
        )
        return await client.push_manifest(reference, raw_index, index_type)


def push_sync(
    image: TestImage,
    registry_url: str,
    repo: str | None = None,
    tag: str | None = None,
    media_type: str = mediatypes.DOCKER_MANIFEST,
) -> str:
    """`push` for synchronous tests."""
    import asyncio

    return asyncio.run(push(image, registry_url, repo, tag, media_type))
