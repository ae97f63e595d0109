"""One build: the stages of a parsed Dockerfile run step by step, each step an image.

As Docker's legacy builder: FROM resolves (or pulls) the base; a metadata instruction
commits the changed config as an empty layer; RUN runs a real container and commits its
changes; COPY/ADD and WORKDIR write into the step's root filesystem and commit that. Every
step first asks the build cache. Stages that do not need each other run at once
(schedule.py); each stage's messages go to its own emit, which puts them in stage order.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import functools
import json
import logging
import os
import posixpath
import shutil
import tarfile
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ketch import errors
from ketch.build import instructions, messages, plan, schedule
from ketch.build.args import BuildArgs, unused_warning
from ketch.build.cache import CacheIndex, step_key
from ketch.build.contracts import Containers, CopyRequest, Images, Snapshots, Tools
from ketch.build.metadata import (
    METADATA,
    ConfigChanges,
    command_line,
    nop_comment,
    nop_comment_string,
)
from ketch.build.mountpoints import drop_mount_points
from ketch.build.options import BuildOptions
from ketch.build.rootfs import mounted
from ketch.build.runmounts import RunMounts
from ketch.build.state import StageState
from ketch.containers.files import upper_dir
from ketch.images.model import Image
from ketch.oci import platform as platforms
from ketch.oci import reference
from ketch.timestamps import rfc3339_nano

log = logging.getLogger("ketch.build")

T = TypeVar("T")

Emit = messages.Emit


class StepFailed(errors.KetchError):
    """A RUN's non-zero exit, in Docker's words, with its code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Executor:
    def __init__(
        self,
        *,
        root: Path,
        images: Images,
        containers: Containers,
        snapshots: Snapshots,
        tools: Tools,
        cache: CacheIndex,
        options: BuildOptions,
        dockerfile: instructions.Dockerfile,
        context_dir: Path,
        scratch: Path,
        emit: Emit,
    ) -> None:
        self.root = root
        self.images = images
        self.containers = containers
        self.snapshots = snapshots
        self.tools = tools
        self.cache = cache
        self.options = options
        self.dockerfile = dockerfile
        self.context_dir = context_dir
        self.scratch = scratch
        self.emit = emit
        self.changes = ConfigChanges(tools.expand, tools.expand_words, dockerfile.escape)
        self.args = BuildArgs(dict(options.build_args))
        self.stage_images: dict[int, Image | None] = {}
        self.stage_names: dict[str, int] = {}
        self.pulls: dict[str, asyncio.Event] = {}  # set when the pull of that name is over
        self.run_mounts = RunMounts(root / "cache-mounts", snapshots)
        self.cache_sources = self._cache_sources()

    def _cache_sources(self) -> set[str] | None:
        """With `cache_from`, the only images a step may reuse, as dockerd's legacy builder:
        those named and the steps' images they were built on. None: any in the cache."""
        if not self.options.cache_from:
            return None
        parents = {record.image: record.parent for _, record in self.cache.items()}
        sources: set[str] = set()
        for name in self.options.cache_from:
            try:
                image_id: str | None = self.images.get(name).id
            except errors.NotFound:
                continue  # as dockerd: a cache source that is not here is no source
            while image_id and image_id not in sources:
                sources.add(image_id)
                image_id = parents.get(image_id)
        return sources

    # -- the whole build ---------------------------------------------------------------

    def _meta_expand(self, word: str) -> str:
        return self.tools.expand(word, self.args.all_meta(), escape=self.dockerfile.escape)

    async def run(self) -> str:
        """Runs the build; returns the last stage's image id. Stages that do not need each
        other run at once (schedule), their messages in stage order all the same."""
        stages = plan.stages_to_build(self.dockerfile, self.options.target, self._meta_expand)
        labels = sorted(self.options.labels.items())
        total = len(self.dockerfile.meta_args) + len(labels)
        total += sum(1 + len(stage.instructions) for stage in stages)
        number = 1
        for meta in self.dockerfile.meta_args:
            self.emit(messages.step(number, total, meta.original))
            number += 1
            for name, value in meta.pairs or ((meta.name, meta.default),):
                env = self.args.all_allowed()
                default = None
                if value is not None:
                    default = self.tools.expand(value, env, escape=self.dockerfile.escape)
                self.args.add_meta(name, default)
        needs = plan.dependencies(self.dockerfile, stages, self._meta_expand)
        jobs: list[schedule.Job[StageState]] = []
        for position, stage in enumerate(stages):
            steps: list[instructions.Instruction] = list(stage.instructions)
            if position == len(stages) - 1:
                steps.extend(label_step(key, value) for key, value in labels)
            run = functools.partial(self._stage, stage, steps, number, total)
            jobs.append(schedule.Job(needs[position], run))
            number += 1 + len(steps)
        states = await schedule.run_jobs(jobs, self.emit)
        unused = self.args.unused()
        if unused:
            self.emit(messages.stream(unused_warning(unused)))
        if not states or not states[-1].image_id:
            raise errors.InvalidArgument("No image was generated. Is your Dockerfile empty?")
        return states[-1].image_id

    async def _stage(
        self,
        stage: instructions.Stage,
        steps: list[instructions.Instruction],
        number: int,
        total: int,
        emit: Emit,
    ) -> StageState:
        """One stage, its first step numbered `number`; once done, later stages see it."""
        state = StageState(self.args.for_stage(), index=stage.index, emit=emit)
        emit(messages.step(number, total, stage.base.original))
        await self._from(state, stage)
        emit(messages.image(state.image_id))
        for offset, step in enumerate(steps, 1):
            emit(messages.step(number + offset, total, step.original))
            await self._step(state, step)
            emit(messages.image(state.image_id))
        if state.image_id:
            emit(messages.aux(state.image_id))
        self.args.merge_referenced(state.args)
        self.stage_images[stage.index] = state.image
        if stage.name:
            self.stage_names[stage.name] = stage.index
        return state

    # -- FROM --------------------------------------------------------------------------

    async def _from(self, state: StageState, stage: instructions.Stage) -> None:
        base = stage.base
        name = self._meta_expand(base.image)
        if not name:
            raise errors.InvalidArgument(f"base name ({base.image}) should not be blank")
        wanted = None
        if base.platform:
            text = self._meta_expand(base.platform)
            try:
                wanted = platforms.parse(text)
            except errors.KetchError as exc:
                raise errors.InvalidArgument(f"failed to parse platform {text}: {exc}") from None
        elif self.options.platform:
            wanted = platforms.parse(self.options.platform)
        image: Image | None
        earlier = self._earlier_stage(state, name.lower())
        if earlier is not None:
            image = self.stage_images[earlier]
        elif name == "scratch":
            image = None
        else:
            image = await self._base_image(state, name, wanted)
        state.begin(stage.name, image)
        triggers = list(state.run_config.get("OnBuild") or [])
        if triggers:
            state.run_config["OnBuild"] = None
            state.emit(messages.triggers(len(triggers)))
            for trigger in triggers:
                parsed = self.tools.parse(f"FROM scratch\n{trigger}\n", "ONBUILD")
                found = parsed.stages[0].instructions if parsed.stages else ()
                if len(found) != 1:
                    raise errors.InvalidArgument("onbuild trigger should be a single expression")
                await self._step(state, found[0])

    async def _base_image(
        self, state: StageState, name: str, wanted: dict[str, str] | None
    ) -> Image:
        if not self.options.pull:
            pulling = self.pulls.get(name)
            if pulling is not None:
                # Another stage pulls it: one pull in the build, as one after the other.
                await pulling.wait()
            try:
                return self.images.get(name)
            except errors.NotFound:
                pass
        try:
            ref = reference.parse(name)
        except errors.InvalidArgument:
            raise errors.no_such_image(name) from None
        auth = registry_auth(self.options.registry_auths, ref.domain)
        pulled = self.pulls.setdefault(name, asyncio.Event())
        try:
            return await self.images.pull(str(ref), state.emit, auth, wanted)
        finally:
            pulled.set()

    # -- one step ------------------------------------------------------------------------

    async def _step(self, state: StageState, step: instructions.Instruction) -> None:
        if isinstance(step, METADATA):
            comment = self.changes.apply(step, state)
            await self._commit_config(state, nop_comment(state.shell, comment))
        elif isinstance(step, instructions.Run):
            await self._run(state, step)
        elif isinstance(step, instructions.Copy):
            await self._copy(state, step)
        elif isinstance(step, instructions.Workdir):
            await self._workdir(state, step)
        else:
            raise errors.InvalidArgument(f"unsupported instruction {step.keyword}")

    def _probe(self, state: StageState, key: str) -> bool:
        if self.options.no_cache:
            return False
        record = self.cache.get(key)
        if record is None:
            return False
        if self.cache_sources is not None and record.image not in self.cache_sources:
            return False
        try:
            image = self.images.get(record.image)
        except errors.NotFound:
            self.cache.drop([key])  # its image was removed since
            return False
        self.cache.used(key)
        state.emit(messages.USING_CACHE)
        state.image = image
        return True

    async def _commit(
        self, state: StageState, key: str, step_cmd: list[str], layer: Path | None
    ) -> None:
        """The step's image: the parent, `layer` (None: an empty layer), the state's config
        and one more history entry; remembered in the cache. `step_cmd` is the step's
        command as the legacy builder records it (its history's `created_by`, and the Cmd
        of the `container_config` it keeps, which compose 1.29 reads)."""
        parent = state.image
        now = rfc3339_nano()
        created_by = " ".join(step_cmd)
        config = copy.deepcopy(parent.config) if parent is not None else {}
        for stale in ("rootfs", "container_config", "container", "created"):
            config.pop(stale, None)
        config["config"] = state.committed_config()
        config["container_config"] = {**state.committed_config(), "Cmd": list(step_cmd)}
        if state.maintainer:
            config["author"] = state.maintainer
        entry: dict[str, Any] = {"created": now}
        if state.maintainer:
            entry["author"] = state.maintainer
        entry["created_by"] = created_by
        if layer is None:
            entry["empty_layer"] = True
        config["history"] = [*(config.get("history") or []), entry]
        config["created"] = now
        image = await self.images.create_image(config, [layer] if layer else [], parent=parent)
        size = max(0, image.size - (parent.size if parent is not None else 0))
        self.cache.put(key, image.id, state.image_id, created_by, size)
        state.image = image

    async def _commit_config(self, state: StageState, container_cmd: list[str]) -> None:
        created_by = " ".join(container_cmd)
        key = step_key(state.image_id, "config", created_by)
        if self._probe(state, key):
            return
        await self._commit(state, key, container_cmd, None)

    # -- RUN -----------------------------------------------------------------------------

    async def _run(self, state: StageState, step: instructions.Run) -> None:
        argv = run_argv(step, state.shell)
        env = list(state.run_config.get("Env") or [])
        arg_values = state.args.not_in_env(env)
        save_cmd = argv
        if arg_values:
            recorded = sorted(f"{k}={v}" for k, v in arg_values.items() if state.args.recorded(k))
            save_cmd = [f"|{len(recorded)}", *recorded, *argv]
        mount_specs = [self.changes.word(state, spec) for spec in step.mounts]
        key = step_key(state.image_id, "run", save_cmd, mount_specs)
        if self._probe(state, key):
            return
        if not state.image_id:
            raise errors.InvalidArgument("Please provide a source image with `from` prior to run")
        config = state.committed_config()
        config.update(
            Cmd=argv,
            Env=env + [f"{k}={v}" for k, v in sorted(arg_values.items())],
            Entrypoint=[""],
            Healthcheck={"Test": ["NONE"]},
            Image=state.image_id,
        )
        with self.run_mounts.prepared(
            mount_specs,
            self.context_dir,
            functools.partial(self._stage_or_image_root, state),
            self.scratch,
        ) as binds:
            await self._run_container(state, key, save_cmd, argv, config, binds)

    async def _run_container(
        self,
        state: StageState,
        key: str,
        step_cmd: list[str],
        argv: list[str],
        config: dict[str, Any],
        binds: list[dict[str, Any]],
    ) -> None:
        container_id, warnings = await self.containers.create(
            None, config, self._host_config(binds)
        )
        for warning in warnings:
            state.emit(messages.warning(warning))
        state.emit(messages.running_in(container_id))
        succeeded = False
        try:
            _, output = await self.containers.attach(
                container_id, stdin=False, stdout=True, stderr=True
            )
            exited = self.containers.wait_for(container_id, "next-exit")
            await self.containers.start(container_id)
            while (item := await output.next_output()) is not None:
                stream_kind, data = item
                text = data.decode("utf-8", "replace")
                state.emit(messages.stderr(text) if stream_kind == 2 else messages.stream(text))
            status = await exited
            code = int(status.get("StatusCode", 0))
            if code != 0:
                raise StepFailed(
                    f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code
                )
            targets = [str(bind["Target"]) for bind in binds]
            await _to_the_end(self._drop_mount_points, container_id, _chain(state), targets)
            await self._commit_snapshot(state, key, step_cmd, container_id)
            succeeded = True
        finally:
            cancelled = not succeeded and _cancelled()
            if self.options.force_remove or cancelled or (succeeded and self.options.remove):
                with contextlib.suppress(errors.NotFound):
                    await asyncio.shield(
                        self.containers.remove(container_id, force=True, volumes=True)
                    )  # as dockerd's builder: the anonymous volumes of its VOLUMEs go too
                if not cancelled:
                    state.emit(messages.removed(container_id))

    def _host_config(self, binds: list[dict[str, Any]]) -> dict[str, Any]:
        options = self.options
        mode = options.network_mode or "bridge"
        host: dict[str, Any] = {
            "NetworkMode": "bridge" if mode == "default" else mode,
            "LogConfig": {"Type": "none", "Config": {}},
        }
        if options.extra_hosts:
            host["ExtraHosts"] = list(options.extra_hosts)
        for key, value in (
            ("ShmSize", options.shm_size), ("Memory", options.memory),
            ("MemorySwap", options.memory_swap), ("CpuShares", options.cpu_shares),
            ("CpuPeriod", options.cpu_period), ("CpuQuota", options.cpu_quota),
            ("CpusetCpus", options.cpuset_cpus), ("CpusetMems", options.cpuset_mems),
        ):  # fmt: skip
            if value:
                host[key] = value
        if options.ulimits:
            host["Ulimits"] = list(options.ulimits)
        if binds:
            host["Mounts"] = binds
        return host

    def _drop_mount_points(self, key: str, chain: str | None, targets: list[str]) -> None:
        upper = upper_dir(self.snapshots.mounts(key))
        drop_mount_points(upper, self.snapshots.layer_dirs(chain), targets)

    def _diff(self, snapshot_key: str, directory: Path) -> Path | None:
        """The snapshot's changes as a layer tar in `directory`; None when there are none
        (Docker commits no layer then, and the history says empty_layer)."""
        layer = directory / "layer.tar"
        with open(layer, "wb") as out:
            self.snapshots.diff(snapshot_key, out)
        with tarfile.open(layer) as tar:
            if tar.next() is None:
                return None
        return layer

    # -- COPY, ADD, WORKDIR ----------------------------------------------------------------

    def _earlier_stage(self, state: StageState, lowered_name: str) -> int | None:
        """The index of a built stage of that name before this one (a later one may be
        built already, stages running at once, but is not this stage's to see)."""
        index = self.stage_names.get(lowered_name)
        return index if index is not None and index < state.index else None

    def _stage_or_image_root(self, state: StageState, name: str) -> Image | None:
        """The image a --from names: an earlier stage (by name or index), else an image
        that must be here already (a pull for it happens at _source_image)."""
        earlier = self._earlier_stage(state, name.lower())
        if earlier is not None:
            return self.stage_images[earlier]
        if name.isdigit():
            index = int(name)
            if index >= state.index or index not in self.stage_images:
                raise errors.InvalidArgument(f"invalid from flag value {name}: index out of bounds")
            return self.stage_images[index]
        return self.images.get(name)

    async def _source_image(self, state: StageState, name: str) -> Image | None:
        try:
            return self._stage_or_image_root(state, name)
        except errors.NotFound:
            return await self._base_image(state, name, None)

    async def _copy(self, state: StageState, step: instructions.Copy) -> None:
        try:
            await self._copy_step(state, step)
        except StepFailed:
            raise
        except errors.KetchError as exc:
            raise type(exc)(f"{step.keyword} failed: {exc}") from None
        except OSError as exc:
            raise errors.InvalidArgument(f"{step.keyword} failed: {exc}") from None

    async def _copy_step(self, state: StageState, step: instructions.Copy) -> None:
        word = self.changes.word
        sources = tuple(word(state, source) for source in step.sources)
        dest = word(state, step.dest)
        chown = word(state, step.chown) if step.chown else None
        chmod = word(state, step.chmod) if step.chmod else None
        from_name = word(state, step.from_) if step.from_ else None
        source_image: Image | None = None
        if from_name is not None:
            try:
                source_image = await self._source_image(state, from_name)
            except errors.NotFound as exc:
                raise errors.InvalidArgument(
                    f"invalid from flag value {from_name}: {exc}"
                ) from None
        run = uuid.uuid4().hex[:16]
        with contextlib.ExitStack() as stack:
            source_root = self.context_dir
            if from_name is not None:
                source_root = stack.enter_context(
                    self._image_root(source_image, f"build-src-{run}")
                )
            request = CopyRequest(
                source_root=source_root, sources=sources, rootfs=Path("/"), dest=dest,
                workdir=str(state.run_config.get("WorkingDir") or "/"), chown=chown,
                chmod=chmod, add=step.add, preserve_owner=from_name is not None and not chown,
                exclude=step.exclude, checksum=step.checksum, from_context=from_name is None,
            )  # fmt: skip
            copier = self.tools.copier
            digest = await _to_the_end(copier.sources_digest, source_root, sources)
            kind = source_kind(source_root, sources)
            owner = f"--chown={chown} " if chown else ""
            comment = f"{step.keyword} {owner}{kind}:{digest.split(':', 1)[-1]} in {dest} "
            step_cmd = nop_comment_string(state.shell, comment)
            created_by = " ".join(step_cmd)
            key = step_key(state.image_id, "copy", created_by, chmod, request.workdir,
                           step.exclude, source_image.id if source_image else None)  # fmt: skip
            if self._probe(state, key):
                return
            snapshot = f"build-{run}"
            mounts = self.snapshots.prepare(snapshot, _chain(state))
            stack.callback(self._remove_snapshot, snapshot)
            with mounted(mounts, self.scratch / f"rootfs-{run}") as rootfs:
                await _to_the_end(copier.copy, dataclasses.replace(request, rootfs=rootfs))
            await self._commit_snapshot(state, key, step_cmd, snapshot)

    async def _commit_snapshot(
        self, state: StageState, key: str, step_cmd: list[str], snapshot: str
    ) -> None:
        layer_dir = Path(tempfile.mkdtemp(dir=self.scratch))
        try:
            layer = await _to_the_end(self._diff, snapshot, layer_dir)
            await self._commit(state, key, step_cmd, layer)
        finally:
            shutil.rmtree(layer_dir, ignore_errors=True)

    @contextlib.contextmanager
    def _image_root(self, image: Image | None, snapshot: str) -> Iterator[Path]:
        """An image's files at a mount point, for reading (scratch: an empty directory)."""
        mounts = self.snapshots.prepare(snapshot, image.chain_id if image else None)
        try:
            with mounted(mounts, self.scratch / snapshot) as root:
                yield root
        finally:
            self._remove_snapshot(snapshot)

    def _remove_snapshot(self, key: str) -> None:
        with contextlib.suppress(errors.NotFound):
            self.snapshots.remove(key)

    async def _workdir(self, state: StageState, step: instructions.Workdir) -> None:
        path = self.changes.word(state, step.path)
        current = str(state.run_config.get("WorkingDir") or "/")
        workdir = posixpath.normpath(posixpath.join("/", current, path))
        if workdir.startswith("//"):
            workdir = workdir[1:]
        state.run_config["WorkingDir"] = workdir
        step_cmd = nop_comment_string(state.shell, f"WORKDIR {workdir}")
        key = step_key(state.image_id, "workdir", " ".join(step_cmd))
        if self._probe(state, key):
            return
        snapshot = f"build-{uuid.uuid4().hex[:16]}"
        mounts = self.snapshots.prepare(snapshot, _chain(state))
        try:
            with mounted(mounts, self.scratch / f"root{snapshot}") as rootfs:
                await _to_the_end(make_directory, rootfs, workdir)
            await self._commit_snapshot(state, key, step_cmd, snapshot)
        finally:
            self._remove_snapshot(snapshot)


# -- helpers (pure, or nearly) ---------------------------------------------------------


async def _to_the_end(function: Callable[..., T], *args: Any) -> T:
    """`function` in a worker thread, waited for to its end even when the stage is
    cancelled meanwhile (a stage fails, the others stop): the cleanup that follows (an
    unmount, a snapshot's removal) must not pull the files from under its reads and writes."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        if not work.cancelled():
            work.exception()  # retrieved: the cancellation is what this stage reports
        raise


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def label_step(key: str, value: str) -> instructions.Label:
    """A `--label` as the LABEL step the legacy builder appends to the last stage."""
    return instructions.Label(
        keyword="LABEL", original=f"LABEL {json.dumps(key)}={json.dumps(value)}",
        location=instructions.Location("", 0, 0), pairs=((key, value),),
    )  # fmt: skip


def run_argv(step: instructions.Run, shell: list[str]) -> list[str]:
    """A RUN's argv; a heredoc as the whole command is the script, as BuildKit runs it,
    and heredocs after a command go to the shell with their bodies."""
    if step.heredocs and step.command.shell_form:
        text = " ".join(step.command.args).strip()
        first = step.heredocs[0]
        if text.lstrip("<-'\"").rstrip("'\"") == first.name and len(step.heredocs) == 1:
            return [*shell, first.content]
        bodies = "".join(f"\n{doc.content}{'' if doc.content.endswith(chr(10)) else chr(10)}"
                         f"{doc.name}" for doc in step.heredocs)  # fmt: skip
        return [*shell, text + bodies]
    return command_line(step.command, shell)


def source_kind(root: Path, sources: tuple[str, ...]) -> str:
    """The legacy builder's name for what a COPY copies: file, dir, or multi."""
    if len(sources) != 1 or any(c in sources[0] for c in "*?["):
        return "multi"
    return "dir" if (root / sources[0].lstrip("/")).is_dir() else "file"


def registry_auth(auths: dict[str, dict[str, Any]], domain: str) -> dict[str, Any] | None:
    """The X-Registry-Config entry for a registry (Docker Hub under any of its names)."""
    hub = {"docker.io", "index.docker.io", "registry-1.docker.io"}
    for key, auth in auths.items():
        host = key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
        if host == domain or (host in hub and domain in hub):
            return auth
    return None


def make_directory(rootfs: Path, path: str) -> None:
    """mkdir -p of `path` inside `rootfs`, symlinks resolved inside it (never out of it),
    new directories root's with mode 0755, as dockerd's ContainerCreateWorkdir."""
    pending = deque(part for part in path.split("/") if part not in ("", "."))
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.popleft()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = rootfs.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise errors.InvalidArgument(f"mkdir {path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        if not candidate.exists():
            candidate.mkdir(mode=0o755)
            os.chown(candidate, 0, 0)
            os.chmod(candidate, 0o755)
        elif not candidate.is_dir():
            raise errors.InvalidArgument(f"mkdir {path}: not a directory")
        resolved.append(part)


def _chain(state: StageState) -> str | None:
    return state.image.chain_id if state.image is not None else None
