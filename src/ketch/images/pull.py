"""Pull one image: manifest, config, layers fetched in parallel, unpacked in order.

As dockerd: at most three layer downloads at a time, the others `Waiting`;
each layer is unpacked as soon as it and every layer below it are in, in a
worker thread so the event loop keeps serving; every DiffID is checked
against the config's `rootfs.diff_ids`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ketch import errors
from ketch.images import progress as messages
from ketch.images.needs import Blobs, Layers, Registry
from ketch.images.progress import Progress
from ketch.oci import mediatypes
from ketch.oci.manifest import Descriptor, Manifest
from ketch.oci.reference import Reference
from ketch.registry import Auth, ProgressCallback
from ketch.snapshots import chain_ids

MAX_CONCURRENT_DOWNLOADS = 3
# Progress lines at most this often per layer; the first and last always go out.
PROGRESS_INTERVAL = 0.1


@dataclass(frozen=True)
class Pulled:
    manifest: Manifest
    config: dict[str, Any]
    diff_ids: list[str]
    chain_id: str | None
    size: int


def parse_config(raw: bytes, manifest: Manifest) -> tuple[dict[str, Any], list[str]]:
    """The image config and its DiffIDs, checked against the manifest's layers."""
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.InvalidArgument(f"invalid image config: {exc}") from None
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise errors.InvalidArgument("invalid image config: rootfs.diff_ids missing")
    if len(diff_ids) != len(manifest.layers):
        raise errors.InvalidArgument(
            f"invalid image config: {len(diff_ids)} diff_ids for {len(manifest.layers)} layers"
        )
    for layer in manifest.layers:
        if layer.media_type not in mediatypes.LAYERS:
            raise errors.InvalidArgument(f"unsupported layer media type {layer.media_type}")
    return config, diff_ids


class Throttle:
    """Lets a progress line through at most every PROGRESS_INTERVAL seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last = -PROGRESS_INTERVAL
        self._finished = False

    def ready(self, final: bool) -> bool:
        if self._finished:
            return False
        self._finished = final
        now = self._clock()
        if final or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            return True
        return False


class Puller:
    def __init__(self, content: Blobs, snapshots: Layers) -> None:
        self.content = content
        self.snapshots = snapshots
        # Two pulls sharing a blob must not write the same ingest at once.
        self._blob_locks: dict[str, asyncio.Lock] = {}
        # How many pulls under way want each blob: a failed pull deletes only its own.
        self._wanted: Counter[str] = Counter()

    async def pull(
        self,
        client: Registry,
        ref: Reference,
        emit: Progress,
        auth: Auth = None,
        platform: dict[str, Any] | None = None,
        known: Callable[[str], bool] | None = None,
    ) -> Pulled:
        """Fetch and unpack `ref`. `known(image_id)` says the image is already whole here,
        in which case no layer is looked at (dockerd prints no layer lines then)."""
        manifest = await client.get_manifest(ref, platform, auth=auth)
        # Only once the registry answered, as dockerd: a registry that is down or
        # an unknown tag is then the request's own error status, not a stream line.
        emit({"status": f"Pulling from {ref.path}", "id": ref.tag or ref.digest})
        blobs = [manifest.config, *manifest.layers]
        stored_before = {d.digest for d in blobs if self.content.has(d.digest)}
        wanted = {d.digest for d in blobs}
        self._wanted.update(wanted)
        chain: list[str] = []
        try:
            await self._fetch(client, ref, manifest.config, None, auth)
            raw_config = self.content.read_bytes(manifest.config.digest)
            config, diff_ids = parse_config(raw_config, manifest)
            chain = chain_ids(diff_ids)
            already = known is not None and known(manifest.config.digest)
            if not already:
                await self._layers(client, ref, manifest.layers, diff_ids, chain, emit, auth)
        except errors.InvalidArgument:
            # The registry served what cannot make this image (a bad layer, a config
            # that lies): what this pull stored for it goes, so no half of it stays.
            # A cut connection is not this case: its partial download is kept to resume.
            self._forget(manifest, chain, stored_before)
            raise
        except errors.StorageError:
            # A full disk: the partial downloads this pull left (its other layers,
            # cut short) give their space back to what already runs.
            for digest in wanted:
                if self._wanted[digest] == 1:
                    self.content.drop_ingest(digest)
            raise
        finally:
            self._wanted.subtract(wanted)
            self._wanted = +self._wanted  # drop the zeros
        top = chain[-1] if chain else None
        size = sum(self.snapshots.layer_size(c) for c in chain)
        return Pulled(manifest, config, diff_ids, top, size)

    def _forget(self, manifest: Manifest, chain: list[str], stored_before: set[str]) -> None:
        """Delete the blobs this pull committed that no unpacked layer stands for."""
        doomed = [manifest.config.digest]
        for i, layer in enumerate(manifest.layers):
            if i >= len(chain) or not self.snapshots.has_layer(chain[i]):
                doomed.append(layer.digest)
        for digest in doomed:
            # Not a blob that was here before, nor one another pull under way wants.
            if digest not in stored_before and self._wanted[digest] == 1:
                with contextlib.suppress(errors.NotFound):
                    self.content.delete(digest)

    async def _fetch(
        self,
        client: Registry,
        ref: Reference,
        desc: Descriptor,
        on_progress: ProgressCallback | None,
        auth: Auth,
    ) -> None:
        lock = self._blob_locks.setdefault(desc.digest, asyncio.Lock())
        async with lock:
            await client.fetch_blob(ref, desc, self.content, progress=on_progress, auth=auth)

    async def _layers(
        self,
        client: Registry,
        ref: Reference,
        layers: list[Descriptor],
        diff_ids: list[str],
        chain: list[str],
        emit: Progress,
        auth: Auth,
    ) -> None:
        loop = asyncio.get_running_loop()
        needed = [i for i, c in enumerate(chain) if not self.snapshots.has_layer(c)]
        for i, layer in enumerate(layers):
            if i not in needed:
                emit(messages.status("Already exists", messages.short_id(layer.digest)))
        for i in needed:
            emit(messages.status("Pulling fs layer", messages.short_id(layers[i].digest)))
        for i in needed[MAX_CONCURRENT_DOWNLOADS:]:
            emit(messages.status("Waiting", messages.short_id(layers[i].digest)))
        if not needed:
            return
        slots = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)

        async def download(layer: Descriptor) -> None:
            shown = messages.short_id(layer.digest)
            throttle = Throttle(loop.time)

            def on_progress(done: int, total: int) -> None:
                if throttle.ready(final=done >= total):
                    emit(messages.moving("Downloading", shown, done, total))

            async with slots:
                await self._fetch(client, ref, layer, on_progress, auth)
            emit(messages.status("Verifying Checksum", shown))
            emit(messages.status("Download complete", shown))

        downloads = {i: asyncio.create_task(download(layers[i])) for i in needed}
        try:
            parent = chain[needed[0] - 1] if needed[0] > 0 else None
            for i in needed:
                await downloads[i]
                await self._extract(loop, parent, layers[i], diff_ids[i], emit)
                parent = chain[i]
        except BaseException:
            for task in downloads.values():
                task.cancel()
            await asyncio.gather(*downloads.values(), return_exceptions=True)
            raise

    async def _extract(
        self,
        loop: asyncio.AbstractEventLoop,
        parent: str | None,
        layer: Descriptor,
        diff_id: str,
        emit: Progress,
    ) -> None:
        shown = messages.short_id(layer.digest)
        throttle = Throttle(loop.time)
        lock = threading.Lock()  # `throttle` is shared with the worker thread

        def on_read(done: int) -> None:
            with lock:
                send = throttle.ready(final=done >= layer.size)
            if send:
                message = messages.moving("Extracting", shown, min(done, layer.size), layer.size)
                loop.call_soon_threadsafe(emit, message)

        await asyncio.to_thread(
            self.snapshots.apply_layer,
            parent,
            self.content.path(layer.digest),
            layer.media_type,
            diff_id,
            on_read,
        )
        emit(messages.status("Pull complete", shown))
