"""BuildService: `docker build` with the legacy builder's steps and messages, over the
images and containers services (api.backend.BuildBackend).

Under its root (`<data-root>/builder`): `cache.json` (the build cache index),
`cache-mounts/` (RUN --mount=type=cache directories), `tmp/` (each build's context and
scratch, removed when it ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ketch import errors
from ketch.build import messages
from ketch.build.cache import CacheIndex
from ketch.build.contracts import Containers, Images, Snapshots, Tools
from ketch.build.executor import Executor, StepFailed
from ketch.build.options import BuildOptions
from ketch.oci import reference
from ketch.oci.reference import Reference
from ketch.timestamps import parse_rfc3339

log = logging.getLogger("ketch.build")


class BuildService:
    def __init__(
        self,
        root: Path,
        images: Images,
        containers: Containers,
        snapshots: Snapshots,
        tools: Tools,
    ) -> None:
        self.root = root
        self.images = images
        self.containers = containers
        self.snapshots = snapshots
        self.tools = tools
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        # What a killed daemon's builds left: nothing in tmp is in use at start.
        for leftover in (root / "tmp").iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
        self.cache = CacheIndex(root / "cache.json")

    async def build(
        self, options: BuildOptions, context: AsyncIterator[bytes]
    ) -> AsyncIterator[dict[str, Any]]:
        """The legacy builder's messages as they happen; an error is the last one. (`quiet`
        is the route's to honour: it holds these back and answers with the image id.)"""
        queue: asyncio.Queue[messages.Message | None] = asyncio.Queue()
        task = asyncio.create_task(self._build(options, context, queue.put_nowait))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (message := await queue.get()) is not None:
                yield message
            failure = self._failure(task)
            if failure is not None:
                yield failure
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    @staticmethod
    def _failure(task: asyncio.Task[str]) -> messages.Message | None:
        exc = task.exception()
        if exc is None:
            return None
        if isinstance(exc, StepFailed):
            return messages.error(str(exc), exc.code)
        if isinstance(exc, errors.KetchError):
            return messages.error(str(exc))
        log.error("build failed", exc_info=exc)
        return messages.error(str(exc) or type(exc).__name__)

    async def _build(
        self,
        options: BuildOptions,
        context: AsyncIterator[bytes],
        emit: messages.Emit,
    ) -> str:
        tags = build_tags(options.tags)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=self.root / "tmp"))
        try:
            context_dir = work / "context"
            context_dir.mkdir()
            scratch = work / "scratch"
            scratch.mkdir()
            await self.tools.unpack_context(context, context_dir)
            text = await asyncio.to_thread(
                self.tools.read_dockerfile, context_dir, options.dockerfile
            )
            dockerfile = self.tools.parse(text, options.dockerfile)
            for warning in dockerfile.warnings:
                emit(messages.stream(warning if warning.endswith("\n") else warning + "\n"))
            executor = Executor(
                root=self.root, images=self.images, containers=self.containers,
                snapshots=self.snapshots, tools=self.tools, cache=self.cache, options=options,
                dockerfile=dockerfile, context_dir=context_dir, scratch=scratch, emit=emit,
            )  # fmt: skip
            image_id = await executor.run()
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        emit(messages.built(image_id))
        for ref in tags:
            self.images.tag(image_id, str(ref))
            emit(messages.tagged(ref.familiar()))
        return image_id

    # -- the cache ---------------------------------------------------------------------

    def cache_usage(self) -> list[dict[str, Any]]:
        """`/system/df`'s BuildCache: one row per cached step."""
        rows = []
        for key, record in self.cache.items():
            rows.append({
                "ID": key[:25], "Parents": [record.parent] if record.parent else None,
                "Parent": record.parent, "Type": "regular", "Description": record.description,
                "InUse": False, "Shared": False, "Size": record.size,
                "CreatedAt": record.created, "LastUsedAt": record.last_used,
                "UsageCount": record.usage,
            })  # fmt: skip
        return rows

    async def prune(
        self,
        *,
        all: bool = False,
        filters: dict[str, Any] | None = None,
        keep_storage: int | None = None,
    ) -> tuple[list[str], int]:
        """Forget cached steps, and remove their images that nothing else names (no tag,
        no container): those whose image is untagged, or with `all` every one; oldest
        first, until `keep_storage` bytes are left. Filters: `until` (a time or Go
        duration), `id`."""
        import time

        from ketch.timestamps import parse_docker_time

        until = None
        wanted_ids: list[str] = []
        for name, values in (filters or {}).items():
            values = [values] if isinstance(values, str) else list(values)
            if name == "until" and values:
                until = parse_docker_time(str(values[0]), time.time())
            elif name == "id":
                wanted_ids = [str(v) for v in values]
            else:
                raise errors.InvalidArgument(f"invalid filter '{name}'")
        items = self.cache.items()
        remaining = sum(record.size for _, record in items)
        dropped: list[str] = []
        reclaimed = 0
        for key, record in items:
            if keep_storage is not None and keep_storage > 0 and remaining <= keep_storage:
                break
            if wanted_ids and not any(key.startswith(w) for w in wanted_ids):
                continue
            if until is not None and (parse_rfc3339(record.last_used) or 0) >= until:
                continue
            try:
                image = self.images.get(record.image)
            except errors.NotFound:
                image = None
            if image is not None and image.repo_tags and not all:
                continue
            if image is not None and not image.repo_tags:
                with contextlib.suppress(errors.Conflict, errors.NotFound):
                    removed = self.images.remove(image.id, force=False)
                    if len(removed) > 1:  # the image and a layer of its own went
                        reclaimed += record.size
            dropped.append(key)
            remaining -= record.size
        self.cache.drop(dropped)
        return [key[:25] for key in dropped], reclaimed


def build_tags(names: list[str]) -> list[Reference]:
    """The `t` values as references with a tag, duplicates dropped (dockerd's
    sanitizeRepoAndTags); a digest is refused before anything runs."""
    found: list[Reference] = []
    for name in names:
        if not name:
            continue
        ref = reference.parse(name)
        if ref.digest is not None:
            raise errors.InvalidArgument("build tag cannot contain a digest")
        if ref not in found:
            found.append(ref)
    return found
