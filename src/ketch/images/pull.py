"""Pull one image: manifest, config, layers fetched in parallel, unpacked in order.

As dockerd: at most three layer downloads at a time, the others `Waiting`;
every DiffID is checked against the config's `rootfs.diff_ids`.

Each layer is unpacked while it downloads: a worker thread follows the blob's
ingest (gunzip, DiffID hash, files written into a staging directory of the
layer's own) while the event loop receives, hashes and stores the compressed
bytes, so the two overlap on two cores and the blob is never read back. The
follower sees the blob's end only once the blob is verified and committed,
and staged layers join their chain in order, parent first, only then. A layer
whose blob was already stored (or whose download started over) is unpacked
from the stored blob instead, once the layer below it is in.
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
from ketch.images.needs import Blobs, FollowableWriter, Layers, Registry, StagedLayer
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
        on_writer: Callable[[FollowableWriter], None] | None = None,
    ) -> None:
        """Download `desc` unless stored; `on_writer` hears of the ingest when one is opened."""
        lock = self._blob_locks.setdefault(desc.digest, asyncio.Lock())
        store = self.content if on_writer is None else _TappedStore(self.content, on_writer)
        async with lock:
            await client.fetch_blob(ref, desc, store, progress=on_progress, auth=auth)

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

        async def download(layer: Descriptor) -> StagedLayer | None:
            shown = messages.short_id(layer.digest)
            throttle = Throttle(loop.time)
            unpacking = _StreamedUnpack(self.snapshots, layer, loop, emit)

            def on_progress(done: int, total: int) -> None:
                if throttle.ready(final=done >= total):
                    emit(messages.moving("Downloading", shown, done, total))

            async with slots:
                try:
                    await self._fetch(client, ref, layer, on_progress, auth, unpacking.start)
                except BaseException:
                    await unpacking.abandon()
                    raise
            emit(messages.status("Verifying Checksum", shown))
            emit(messages.status("Download complete", shown))
            return await unpacking.result()

        downloads = {i: asyncio.create_task(download(layers[i])) for i in needed}
        committed: set[int] = set()
        try:
            parent = chain[needed[0] - 1] if needed[0] > 0 else None
            for i in needed:
                staged = await downloads[i]
                if staged is None:
                    await self._extract(loop, parent, layers[i], diff_ids[i], emit)
                else:
                    committed.add(i)
                    await asyncio.to_thread(
                        self.snapshots.commit_layer, parent, staged, diff_ids[i]
                    )
                    emit(messages.status("Pull complete", messages.short_id(layers[i].digest)))
                parent = chain[i]
        except BaseException:
            for task in downloads.values():
                task.cancel()
            await asyncio.gather(*downloads.values(), return_exceptions=True)
            for i, task in downloads.items():
                if i not in committed and not task.cancelled() and task.exception() is None:
                    leftover = task.result()
                    if leftover is not None:
                        self.snapshots.discard_layer(leftover)
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


def _in_own_thread(
    loop: asyncio.AbstractEventLoop,
    work: Callable[[], StagedLayer],
    discard: Callable[[StagedLayer], None],
) -> asyncio.Future[StagedLayer]:
    """`work()` on a thread of its own, its outcome in the future returned.

    Not the loop's default executor: an unpacking worker waits for its blob's
    commit, which runs there, so with enough layers at once a shared pool would
    have every worker waiting for a commit that no worker is free to run.
    """
    future: asyncio.Future[StagedLayer] = loop.create_future()

    def settle(outcome: StagedLayer | BaseException) -> None:
        if future.cancelled():
            if isinstance(outcome, StagedLayer):
                discard(outcome)
        elif isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def run() -> None:
        outcome: StagedLayer | BaseException
        try:
            outcome = work()
        except BaseException as exc:  # handed to the future's awaiter
            outcome = exc
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:  # the loop is gone: nobody will commit this layer
            if isinstance(outcome, StagedLayer):
                discard(outcome)

    threading.Thread(target=run, name="ketch-unpack", daemon=True).start()
    return future


class _TappedStore:
    """The content store, telling `on_writer` of each ingest opened through it."""

    def __init__(self, content: Blobs, on_writer: Callable[[FollowableWriter], None]) -> None:
        self._content = content
        self._on_writer = on_writer

    def has(self, digest: str) -> bool:
        return self._content.has(digest)

    def writer(self, digest: str, size: int | None = None) -> FollowableWriter:
        ingest = self._content.writer(digest, size)
        self._on_writer(ingest)
        return ingest


class _StreamedUnpack:
    """One layer unpacked in a worker thread from its ingest, while it downloads.

    Its `Extracting` lines start once the download is complete, as dockerd's do.
    """

    def __init__(
        self,
        snapshots: Layers,
        layer: Descriptor,
        loop: asyncio.AbstractEventLoop,
        emit: Progress,
    ) -> None:
        self._snapshots = snapshots
        self._layer = layer
        self._loop = loop
        self._emit = emit
        self._shown = messages.short_id(layer.digest)
        self._throttle = Throttle(loop.time)
        self._lock = threading.Lock()  # the progress state is shared with the worker
        self._read = 0
        self._downloaded = False
        self._interrupted: Callable[[], bool] = lambda: False
        self._future: asyncio.Future[StagedLayer] | None = None

    def start(self, writer: FollowableWriter) -> None:
        reader = writer.follow()
        self._interrupted = lambda: reader.interrupted
        name = self._layer.digest.split(":", 1)[-1]

        def stage() -> StagedLayer:
            try:
                return self._snapshots.stage_layer(reader, name, self._on_read)
            finally:
                reader.close()

        self._future = _in_own_thread(self._loop, stage, self._snapshots.discard_layer)

    def _on_read(self, done: int) -> None:
        with self._lock:
            self._read = done
            send = self._downloaded and self._throttle.ready(final=done >= self._layer.size)
        if send:
            self._loop.call_soon_threadsafe(self._emit, self._extracting(done))

    def _extracting(self, done: int) -> dict[str, Any]:
        size = self._layer.size
        return messages.moving("Extracting", self._shown, min(done, size), size)

    async def result(self) -> StagedLayer | None:
        """The staged layer; None when it must be unpacked from the stored blob instead
        (it was stored already, or its download was interrupted and started over)."""
        if self._future is None:
            return None
        with self._lock:
            self._downloaded = True
            send = self._throttle.ready(final=self._read >= self._layer.size)
            done = self._read
        if send:
            self._emit(self._extracting(done))
        try:
            staged = await asyncio.shield(self._future)
        except asyncio.CancelledError:
            self._discard_when_done()
            raise
        except Exception:
            if self._interrupted():
                return None
            raise
        with self._lock:
            send = self._throttle.ready(final=True)
        if send:
            self._emit(self._extracting(self._layer.size))
        return staged

    async def abandon(self) -> None:
        """The download failed: wait for the worker to give up (it cleans up after itself)."""
        if self._future is None:
            return
        try:
            staged = await asyncio.shield(self._future)
        except asyncio.CancelledError:
            self._discard_when_done()
            raise
        except Exception:
            return
        self._snapshots.discard_layer(staged)  # only if the blob was committed after all

    def _discard_when_done(self) -> None:
        """A cancelled pull leaves no staged layer behind, even one finished later."""
        assert self._future is not None

        def discard(future: asyncio.Future[StagedLayer]) -> None:
            if not future.cancelled() and future.exception() is None:
                self._snapshots.discard_layer(future.result())

        self._future.add_done_callback(discard)
