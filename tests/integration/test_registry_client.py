"""The registry client against a real registry on 127.0.0.1: push, pull, indexes, mirrors,
token auth, tampered blobs, cut downloads, and a registry that is down."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import tarfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from ketch import errors
from ketch.content import ContentStore
from ketch.oci import manifest, mediatypes, platform, reference
from ketch.oci.digest import sha256_digest
from ketch.oci.manifest import Descriptor
from ketch.registry import RegistryClient, RegistryConfig
from ketch.registry.auth import basic_header
from ketch.testing import manifests
from ketch.testing.registry import RegistryServer, free_port, run_registry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HOST = platform.host_platform()
OTHER = (
    {"os": "linux", "architecture": "arm64"}
    if HOST["architecture"] != "arm64"
    else {"os": "linux", "architecture": "amd64"}
)


def layer(name: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(buf.getvalue(), mtime=0)


@dataclass
class BuiltImage:
    config: bytes
    layers: list[bytes]
    manifest: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    def blobs(self) -> dict[str, bytes]:
        return {sha256_digest(b): b for b in [self.config, *self.layers]}


def make_image(media_type: str, plat: dict[str, str] = HOST, tag: str = "x") -> BuiltImage:
    docker = media_type == mediatypes.DOCKER_MANIFEST
    layers = [
        layer(f"{tag}-a.txt", b"first layer " + tag.encode()),
        layer("b.bin", os.urandom(3000)),
    ]
    config = json.dumps(
        {**plat, "rootfs": {"type": "layers", "diff_ids": []}, "config": {"Cmd": ["/bin/sh"]}}
    ).encode()
    config_desc = Descriptor(
        mediatypes.DOCKER_CONFIG if docker else mediatypes.OCI_CONFIG,
        sha256_digest(config),
        len(config),
    )
    layer_type = mediatypes.DOCKER_LAYER_GZIP if docker else mediatypes.OCI_LAYER_GZIP
    descs = [Descriptor(layer_type, sha256_digest(b), len(b)) for b in layers]
    return BuiltImage(
        config, layers, manifests.build_manifest(config_desc, descs, media_type), media_type
    )


async def push(rc: RegistryClient, ref: reference.Reference, image: BuiltImage, auth=None) -> str:
    for digest, data in image.blobs().items():
        await rc.push_blob(ref, data, digest, auth=auth)
    return await rc.push_manifest(ref, image.manifest, image.media_type, auth=auth)


async def pull(
    rc: RegistryClient, ref: reference.Reference, store: ContentStore, auth=None, **kw
) -> manifest.Manifest:
    got = await rc.get_manifest(ref, auth=auth, **kw)
    # layers in parallel, as a pull does
    await asyncio.gather(
        *(rc.fetch_blob(ref, d, store, auth=auth) for d in [got.config, *got.layers])
    )
    return got


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with run_registry(tmp_path) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


@pytest.mark.parametrize("media_type", [mediatypes.OCI_MANIFEST, mediatypes.DOCKER_MANIFEST])
def test_push_then_pull_by_tag_and_digest(registry, store, media_type):
    image = make_image(media_type)
    ref = reference.parse(f"{registry.host_port}/team/app:v1")

    async def run() -> None:
        async with RegistryClient(RegistryConfig()) as rc:
            assert await push(rc, ref, image) == image.digest
            by_tag = await pull(rc, ref, store)
            assert (by_tag.digest, by_tag.media_type, by_tag.raw) == (
                image.digest,
                media_type,
                image.manifest,
            )
            assert by_tag.index_digest is None
            by_digest = await rc.get_manifest(ref.with_digest(image.digest))
            assert by_digest.raw == image.manifest
            # pushing again finds every blob already there
            assert await push(rc, ref, image) == image.digest

    asyncio.run(run())
    for digest, data in image.blobs().items():
        assert store.read_bytes(digest) == data
    assert sorted(store.digests()) == sorted(image.blobs())


def test_progress_reports_bytes(registry, store):
    image = make_image(mediatypes.OCI_MANIFEST)
    ref = reference.parse(f"{registry.host_port}/p/q:v1")
    seen: list[tuple[int, int]] = []

    async def run() -> None:
        async with RegistryClient() as rc:
            await push(rc, ref, image)
            got = await rc.get_manifest(ref)
            await rc.fetch_blob(
                ref, got.layers[1], store, progress=lambda d, t: seen.append((d, t))
            )

    asyncio.run(run())
    size = len(image.layers[1])
    assert seen[-1] == (size, size)
    assert all(total == size for _, total in seen)


@pytest.mark.parametrize("index_type", [mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST])
def test_index_resolves_to_host_platform(registry, store, index_type):
    inner = (
        mediatypes.OCI_MANIFEST
        if index_type == mediatypes.OCI_INDEX
        else mediatypes.DOCKER_MANIFEST
    )
    host_image = make_image(inner, HOST, "host")
    other_image = make_image(inner, OTHER, "other")
    ref = reference.parse(f"{registry.host_port}/multi/arch:latest")
    entries = [
        Descriptor(inner, other_image.digest, len(other_image.manifest), platform=OTHER),
        Descriptor(inner, host_image.digest, len(host_image.manifest), platform=HOST),
    ]
    index = manifests.build_index(entries, index_type)

    async def run() -> None:
        async with RegistryClient() as rc:
            for image in (host_image, other_image):
                await push(rc, ref.with_digest(image.digest), image)
            assert await rc.push_manifest(ref, index, index_type) == sha256_digest(index)
            got = await pull(rc, ref, store)
            assert got.digest == host_image.digest
            assert got.index_digest == sha256_digest(index)
            chosen = await rc.get_manifest(ref, platform=OTHER)
            assert chosen.digest == other_image.digest
            raw_index = await rc.fetch_manifest(ref)
            assert isinstance(raw_index, manifest.Index) and raw_index.raw == index
            with pytest.raises(errors.NotFound) as exc:
                await rc.get_manifest(ref, platform={"os": "linux", "architecture": "s390x"})
            assert exc.value.message == (
                "no matching manifest for linux/s390x in the manifest list entries"
            )

    asyncio.run(run())
    assert store.read_bytes(sha256_digest(host_image.config)) == host_image.config


def test_unknown_manifest_is_not_found_with_registry_words(registry):
    ref = reference.parse(f"{registry.host_port}/nobody/here:nope")

    async def run() -> None:
        async with RegistryClient() as rc:
            with pytest.raises(errors.NotFound) as exc:
                await rc.get_manifest(ref)
            assert exc.value.message == (
                f"manifest for {registry.host_port}/nobody/here:nope not found: "
                "manifest unknown: manifest unknown"
            )

    asyncio.run(run())


def test_docker_hub_name_pulled_through_mirror(registry, store):
    image = make_image(mediatypes.DOCKER_MANIFEST)
    # a mirror holds Docker Hub's paths, `library/` included
    on_mirror = reference.parse(f"{registry.host_port}/library/mirrored:v1")
    dead_mirror = f"http://127.0.0.1:{free_port()}"
    config = RegistryConfig(mirrors=[dead_mirror, registry.url])

    async def run() -> None:
        async with RegistryClient(RegistryConfig()) as rc:
            await push(rc, on_mirror, image)
        async with RegistryClient(config) as rc:
            ref = reference.parse("mirrored:v1")
            assert ref.name == "docker.io/library/mirrored"
            got = await pull(rc, ref, store)
            assert got.digest == image.digest

    asyncio.run(run())
    assert sorted(store.digests()) == sorted(image.blobs())


def test_token_auth(tmp_path, store):
    good = {"username": "alice", "password": "s3cret", "serveraddress": "x"}
    wrong = dict(good, password="wrong")
    image = make_image(mediatypes.OCI_MANIFEST)

    with run_registry(tmp_path, auth={"alice": "s3cret"}) as server:
        ref = reference.parse(f"{server.host_port}/private/app:v1")

        async def run() -> None:
            async with RegistryClient() as rc:
                await push(rc, ref, image, auth=good)
                got = await pull(rc, ref, store, auth=good)
                assert got.digest == image.digest
                with pytest.raises(errors.Unauthorized) as exc:
                    await rc.get_manifest(ref, auth=wrong)
                assert exc.value.message == "unauthorized: incorrect username or password"
                with pytest.raises(errors.Unauthorized) as exc:
                    await rc.get_manifest(ref)
                assert (
                    exc.value.message
                    == f"{ref.familiar_name}: unauthorized: authentication required"
                )
                login = await rc.login(server.host_port, good)
                assert login["Status"] == "Login Succeeded" and login["IdentityToken"]
                with pytest.raises(errors.Unauthorized):
                    await rc.login(server.host_port, wrong)
            # the identity token from login stands in for the password
            async with RegistryClient() as rc:
                token_auth = {"identitytoken": login["IdentityToken"]}
                assert (await rc.get_manifest(ref, auth=token_auth)).digest == image.digest
            # so does a registry token obtained elsewhere, sent as it is
            assert server.token_server is not None
            query = urllib.parse.urlencode(
                {"service": server.token_server.service, "scope": f"repository:{ref.path}:pull"}
            )
            request = urllib.request.Request(
                f"{server.token_server.realm}?{query}",
                headers={"Authorization": basic_header("alice", "s3cret")},
            )
            with urllib.request.urlopen(request, timeout=5) as resp:
                registry_token = json.loads(resp.read())["token"]
            async with RegistryClient() as rc:
                got = await rc.get_manifest(ref, auth={"registrytoken": registry_token})
                assert got.digest == image.digest

        asyncio.run(run())
        assert server.token_server is not None
        scopes = [s for _, req_scopes, _ in server.token_server.requests for s in req_scopes]
        assert "repository:private/app:pull,push" in scopes
        assert "repository:private/app:pull" in scopes


def test_tampered_blob_is_refused_and_nothing_committed(registry, store):
    image = make_image(mediatypes.OCI_MANIFEST)
    ref = reference.parse(f"{registry.host_port}/tamper/me:v1")
    target = image.layers[1]
    digest = sha256_digest(target)

    async def run() -> None:
        async with RegistryClient() as rc:
            await push(rc, ref, image)
            data_path = registry.blob_data_path(ref.path, digest)
            altered = bytearray(data_path.read_bytes())
            altered[100] ^= 0xFF
            data_path.write_bytes(bytes(altered))
            got = await rc.get_manifest(ref)
            with pytest.raises(errors.InvalidArgument) as exc:
                await rc.fetch_blob(ref, got.layers[1], store)
            assert f"digest mismatch: expected {digest}, got {sha256_digest(altered)}" in (
                exc.value.message
            )

    asyncio.run(run())
    assert not store.has(digest)
    assert store.ingest_offset(digest) == 0
    assert list((store.root / "ingest").iterdir()) == []


class CuttingProxy:
    """A TCP proxy that closes each connection after `limit` bytes from the server."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.limit: int | None = None
        self.sent_to_client = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, client_r, client_w) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        limit = self.limit

        async def up() -> None:
            while data := await client_r.read(65536):
                server_w.write(data)
                await server_w.drain()

        async def down() -> None:
            sent = 0
            while data := await server_r.read(65536):
                if limit is not None and sent + len(data) > limit:
                    data = data[: limit - sent]
                client_w.write(data)
                await client_w.drain()
                sent += len(data)
                self.sent_to_client += len(data)
                if limit is not None and sent >= limit:
                    return

        tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (client_w, server_w):
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def test_cut_download_keeps_partial_and_retry_resumes(registry, store):
    big = os.urandom(2 * 1024 * 1024)
    digest = sha256_digest(big)
    desc = Descriptor(mediatypes.OCI_LAYER_TAR, digest, len(big))

    async def run() -> None:
        direct = reference.parse(f"{registry.host_port}/cut/blob:v1")
        async with RegistryClient() as rc:
            await rc.push_blob(direct, big, digest)
        proxy = CuttingProxy(int(registry.host_port.rsplit(":", 1)[1]))
        port = await proxy.start()
        try:
            ref = reference.parse(f"127.0.0.1:{port}/cut/blob:v1")
            proxy.limit = len(big) // 2
            async with RegistryClient() as rc:
                with pytest.raises(errors.Unavailable) as exc:
                    await rc.fetch_blob(ref, desc, store)
                assert "connection closed after" in exc.value.message
                assert not store.has(digest)
                kept = store.ingest_offset(digest)
                assert 0 < kept < len(big)
                proxy.limit = None
                before = proxy.sent_to_client
                assert await rc.fetch_blob(ref, desc, store) == digest
                # only the missing part travelled again: the retry resumed with Range
                assert proxy.sent_to_client - before < len(big) - kept + 4096
        finally:
            await proxy.stop()

    asyncio.run(run())
    assert store.read_bytes(digest) == big
    assert store.ingest_offset(digest) == 0


def test_registry_down_is_unavailable():
    port = free_port()
    ref = reference.parse(f"127.0.0.1:{port}/any/thing:v1")

    async def run() -> None:
        async with RegistryClient() as rc:
            with pytest.raises(errors.Unavailable) as exc:
                await rc.get_manifest(ref)
            assert exc.value.message == (
                f'Get "http://127.0.0.1:{port}/v2/any/thing/manifests/v1": '
                f"dial tcp 127.0.0.1:{port}: connect: connection refused"
            )

    asyncio.run(run())


def test_basic_auth(tmp_path, store):
    good = {"username": "bob", "password": "pa55"}
    image = make_image(mediatypes.OCI_MANIFEST)

    with run_registry(tmp_path, auth={"bob": "pa55"}, auth_kind="basic") as server:
        ref = reference.parse(f"{server.host_port}/basic/app:v1")

        async def run() -> None:
            async with RegistryClient() as rc:
                await push(rc, ref, image, auth=good)
                assert (await pull(rc, ref, store, auth=good)).digest == image.digest
                with pytest.raises(errors.Unauthorized):
                    await rc.get_manifest(ref, auth=dict(good, password="nope"))
                with pytest.raises(errors.Unauthorized):
                    await rc.get_manifest(ref)
                assert await rc.login(server.host_port, good) == {
                    "Status": "Login Succeeded",
                    "IdentityToken": "",
                }
                with pytest.raises(errors.Unauthorized) as exc:
                    await rc.login(server.host_port, dict(good, password="nope"))
                assert exc.value.message == (
                    f"login attempt to http://{server.host_port}/v2/ failed with status: "
                    "401 Unauthorized"
                )

        asyncio.run(run())
    assert store.read_bytes(sha256_digest(image.layers[0])) == image.layers[0]


def test_mirror_without_the_image_falls_back_to_next(tmp_path, registry, store):
    image = make_image(mediatypes.OCI_MANIFEST)
    with run_registry(tmp_path / "empty") as empty_mirror:
        config = RegistryConfig(mirrors=[empty_mirror.url, registry.url])

        async def run() -> None:
            async with RegistryClient() as rc:
                await push(rc, reference.parse(f"{registry.host_port}/someone/tool:1"), image)
            async with RegistryClient(config) as rc:
                ref = reference.parse("someone/tool:1")
                assert (await pull(rc, ref, store)).digest == image.digest

        asyncio.run(run())
    assert sorted(store.digests()) == sorted(image.blobs())


def test_push_blob_from_file_and_login_without_auth(tmp_path, registry, store):
    data = os.urandom(100_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    digest = sha256_digest(data)
    ref = reference.parse(f"{registry.host_port}/files/blob:v1")

    async def run() -> None:
        async with RegistryClient() as rc:
            assert await rc.push_blob(ref, path, digest) == digest
            desc = Descriptor(mediatypes.OCI_LAYER_TAR, digest, len(data))
            await rc.fetch_blob(ref, desc, store)
            # a registry without auth accepts any login, as dockerd reports
            assert (await rc.login(registry.url, {"username": "u", "password": "p"}))[
                "Status"
            ] == "Login Succeeded"
            with pytest.raises(errors.InvalidArgument):
                await rc.push_blob(ref, data, sha256_digest(b"not it"))

    asyncio.run(run())
    assert store.read_bytes(digest) == data


def test_same_blob_fetched_concurrently_downloads_once(registry, store):
    data = os.urandom(1024 * 1024)
    digest = sha256_digest(data)
    desc = Descriptor(mediatypes.OCI_LAYER_TAR, digest, len(data))

    async def run() -> None:
        async with RegistryClient() as rc:
            await rc.push_blob(reference.parse(f"{registry.host_port}/dup/blob:v1"), data, digest)
        proxy = CuttingProxy(int(registry.host_port.rsplit(":", 1)[1]))
        port = await proxy.start()
        try:
            ref = reference.parse(f"127.0.0.1:{port}/dup/blob:v1")
            seen: list[list[tuple[int, int]]] = [[], []]
            async with RegistryClient() as rc:
                results = await asyncio.gather(
                    *(
                        rc.fetch_blob(
                            ref, desc, store, progress=lambda d, t, i=i: seen[i].append((d, t))
                        )
                        for i in range(2)
                    )
                )
            assert results == [digest, digest]
            assert proxy.sent_to_client < 2 * len(data)
            # both callers hear that the blob is complete
            assert seen[0][-1] == seen[1][-1] == (len(data), len(data))
        finally:
            await proxy.stop()

    asyncio.run(run())
    assert store.read_bytes(digest) == data


def test_tampered_manifest_is_refused(registry):
    image = make_image(mediatypes.OCI_MANIFEST)
    ref = reference.parse(f"{registry.host_port}/tamper/manifest:v1")

    async def run() -> None:
        async with RegistryClient() as rc:
            await push(rc, ref, image)
            data_path = registry.blob_data_path(ref.path, image.digest)
            # same JSON shape, one byte of whitespace changed: only the digest can tell
            data_path.write_bytes(image.manifest.replace(b"\n", b" ", 1))
            for target in (ref, ref.with_digest(image.digest)):
                with pytest.raises(errors.InvalidArgument) as exc:
                    await rc.get_manifest(target)
                assert f"digest mismatch: expected {image.digest}" in exc.value.message

    asyncio.run(run())


def test_resolve_and_list_tags(registry):
    image = make_image(mediatypes.DOCKER_MANIFEST)
    repo = f"{registry.host_port}/tags/many"
    tags = [f"t{i}" for i in range(5)]

    async def run() -> None:
        async with RegistryClient() as rc:
            for tag in tags:
                await push(rc, reference.parse(f"{repo}:{tag}"), image)
            desc = await rc.resolve(reference.parse(f"{repo}:t3"))
            assert desc == Descriptor(mediatypes.DOCKER_MANIFEST, image.digest, len(image.manifest))
            assert sorted(await rc.list_tags(reference.parse(repo))) == tags
            with pytest.raises(errors.NotFound, match="manifest unknown"):
                await rc.resolve(reference.parse(f"{repo}:missing"))
            with pytest.raises(errors.NotFound, match="name unknown"):
                await rc.list_tags(reference.parse(f"{registry.host_port}/no/such"))

    asyncio.run(run())


def test_blob_redirect_followed_without_leaking_credentials(store):
    """Registries often send blob downloads elsewhere (object storage) with a redirect."""
    data = os.urandom(200_000)
    digest = sha256_digest(data)
    seen_by_storage: list[str | None] = []

    async def storage(request: web.Request) -> web.Response:
        seen_by_storage.append(request.headers.get("Authorization"))
        return web.Response(body=data, content_type="application/octet-stream")

    async def front(request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == "Bearer front-token"
        raise web.HTTPTemporaryRedirect(f"{storage_url}/objects/{request.match_info['digest']}")

    async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return runner, f"127.0.0.1:{port}"

    async def run() -> None:
        nonlocal storage_url
        storage_app = web.Application()
        storage_app.router.add_get("/objects/{digest}", storage)
        front_app = web.Application()
        front_app.router.add_get("/v2/{repo:.+}/blobs/{digest}", front)
        storage_runner, storage_host = await serve(storage_app)
        front_runner, front_host = await serve(front_app)
        storage_url = f"http://{storage_host}"
        try:
            ref = reference.parse(f"{front_host}/redirected/blob:v1")
            desc = Descriptor(mediatypes.OCI_LAYER_TAR, digest, len(data))
            async with RegistryClient() as rc:
                await rc.fetch_blob(ref, desc, store, auth={"registrytoken": "front-token"})
        finally:
            await front_runner.cleanup()
            await storage_runner.cleanup()

    storage_url = ""
    asyncio.run(run())
    assert store.read_bytes(digest) == data
    assert seen_by_storage == [None]


def test_large_index_is_read_whole(registry, store):
    """An index of many entries spans many network reads; all of it must be read."""
    image = make_image(mediatypes.OCI_MANIFEST)
    ref = reference.parse(f"{registry.host_port}/big/index:v1")
    filler = [
        Descriptor(
            mediatypes.OCI_MANIFEST,
            image.digest,
            len(image.manifest),
            annotations={"filler": "x" * 200},
            platform={"os": "plan9", "architecture": f"arch{i}"},
        )
        for i in range(800)
    ]
    host = Descriptor(mediatypes.OCI_MANIFEST, image.digest, len(image.manifest), platform=HOST)
    index = manifests.build_index([*filler, host])
    assert len(index) > 200_000

    async def run() -> None:
        async with RegistryClient() as rc:
            await push(rc, ref.with_digest(image.digest), image)
            await rc.push_manifest(ref, index, mediatypes.OCI_INDEX)
            got = await rc.get_manifest(ref)
            assert got.digest == image.digest
            assert got.index_digest == sha256_digest(index)

    asyncio.run(run())
