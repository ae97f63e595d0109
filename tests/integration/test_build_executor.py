"""The builder's executor on a real daemon's parts, in this process: base images pulled from
the hub mirror, RUN steps as real containers, COPY into real snapshots, images committed
and run.

The Dockerfile side (parser, word expansion, context, copier) is written beside the
executor; these tests hand it Dockerfiles as instruction objects (through the small
line parser below) and a copier of single files and directories.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from ketch.build import instructions as ins
from ketch.build import plan
from ketch.build.contracts import CopyRequest, Tools
from ketch.build.options import BuildOptions
from ketch.build.service import BuildService
from ketch.containers.service import ContainerService
from ketch.containers.shims import ShimBackend
from ketch.containers.supervisor import RunSettings
from ketch.content import ContentStore
from ketch.images.service import ImageService
from ketch.registry import RegistryConfig
from ketch.snapshots import SnapshotStore
from ketch.testing import daemon as daemon_fixture
from ketch.testing.registry import RegistryServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.timeout(180),
]

# -- a stand-in for the Dockerfile tools -------------------------------------------------


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    return re.sub(r"\$(?:\{(\w+)(?::-([^}]*))?\}|(\w+))", lambda m: value_of(m, env), word)


def value_of(match: re.Match[str], env: Mapping[str, str]) -> str:
    name = match.group(1) or match.group(3)
    found = env.get(name, "")
    default = match.group(2)
    return found if found or default is None else default


def expand_words(word: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    return expand(word, env).split()


async def unpack_context(chunks: AsyncIterator[bytes], dest: Path) -> None:
    data = b"".join([chunk async for chunk in chunks])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def read_dockerfile(context: Path, name: str) -> str:
    return (context / name).read_text()


def command(text: str) -> ins.Command:
    if text.startswith("["):
        return ins.Command(tuple(json.loads(text)), shell_form=False)
    return ins.Command((text,), shell_form=True)


def instruction(line: str, number: int) -> ins.Instruction:
    keyword, _, rest = line.partition(" ")
    keyword = keyword.upper()
    common: dict[str, Any] = {
        "keyword": keyword, "original": line, "location": ins.Location("Dockerfile", number, number)
    }
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        key, _, value = flag[2:].partition("=")
        flags[key] = value
    if keyword == "FROM":
        parts = rest.split()
        return ins.From(**common, image=parts[0], name=parts[2].lower() if len(parts) > 2
                        else None, platform=flags.get("platform"))  # fmt: skip
    if keyword == "RUN":
        mounts = tuple(v for k, v in flags.items() if k == "mount")
        return ins.Run(**common, command=command(rest), mounts=mounts)
    if keyword in ("CMD", "ENTRYPOINT"):
        kind = ins.Cmd if keyword == "CMD" else ins.Entrypoint
        return kind(**common, command=command(rest))
    if keyword in ("ENV", "LABEL"):
        pairs = tuple(tuple(p.split("=", 1)) for p in rest.split())
        kind = ins.Env if keyword == "ENV" else ins.Label
        return kind(**common, pairs=pairs)
    if keyword == "ARG":
        name, sep, default = rest.partition("=")
        return ins.Arg(**common, name=name, default=default if sep else None)
    if keyword in ("COPY", "ADD"):
        words = rest.split()
        return ins.Copy(**common, sources=tuple(words[:-1]), dest=words[-1], add=keyword == "ADD",
                        from_=flags.get("from"), chown=flags.get("chown"))  # fmt: skip
    if keyword == "USER":
        return ins.User(**common, user=rest)
    if keyword == "WORKDIR":
        return ins.Workdir(**common, path=rest)
    if keyword == "ONBUILD":
        return ins.Onbuild(**common, expression=rest)
    if keyword == "HEALTHCHECK":
        _, _, cmd = rest.partition(" ")
        retries = int(flags["retries"]) if "retries" in flags else None
        return ins.Healthcheck(**common, test=("CMD-SHELL", cmd), interval=flags.get("interval"),
                               retries=retries)  # fmt: skip
    raise AssertionError(f"the test parser does not know {keyword}")


def parse(text: str, file: str = "Dockerfile") -> ins.Dockerfile:
    meta: list[ins.Arg] = []
    stages: list[ins.Stage] = []
    current: list[ins.Instruction] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        step = instruction(line, number)
        if isinstance(step, ins.From):
            if stages:
                stages[-1] = ins.Stage(stages[-1].index, stages[-1].base, tuple(current))
            stages.append(ins.Stage(len(stages), step))
            current = []
        elif not stages:
            assert isinstance(step, ins.Arg)
            meta.append(step)
        else:
            current.append(step)
    if stages:
        stages[-1] = ins.Stage(stages[-1].index, stages[-1].base, tuple(current))
    return ins.Dockerfile(meta_args=tuple(meta), stages=tuple(stages))


class FileCopier:
    """COPY of files and directories, no wildcards; --chown as numeric uid:gid."""

    def copy(self, request: CopyRequest) -> None:
        dest = request.dest if request.dest.startswith("/") else f"{request.workdir}/{request.dest}"
        for source in request.sources:
            origin = request.source_root / source.lstrip("/")
            target = request.rootfs / dest.lstrip("/")
            if dest.endswith("/"):
                target = target / origin.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(origin, target)
            if request.chown:
                uid, _, gid = request.chown.partition(":")
                os.chown(target, int(uid), int(gid or uid))

    def sources_digest(self, source_root: Path, sources: Sequence[str]) -> str:
        digest = hashlib.sha256()
        for source in sources:
            path = source_root / source.lstrip("/")
            files = sorted(path.rglob("*")) if path.is_dir() else [path]
            for file in files:
                digest.update(str(file.relative_to(source_root)).encode())
                if file.is_file():
                    digest.update(file.read_bytes())
        return "sha256:" + digest.hexdigest()


TOOLS = Tools(parse=parse, expand=expand, expand_words=expand_words,
              unpack_context=unpack_context, read_dockerfile=read_dockerfile,
              copier=FileCopier())  # fmt: skip

# -- a daemon's parts in this process ---------------------------------------------------


class Parts:
    def __init__(
        self, images: ImageService, containers: ContainerService, builder: BuildService
    ) -> None:
        self.images = images
        self.containers = containers
        self.builder = builder

    async def build(
        self, dockerfile: str, files: dict[str, bytes] | None = None, **options: Any
    ) -> tuple[list[dict[str, Any]], str]:
        """Every message, and the stream text joined."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, data in {"Dockerfile": dockerfile.encode(), **(files or {})}.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

        async def chunks() -> AsyncIterator[bytes]:
            yield buffer.getvalue()

        options.setdefault("network_mode", "host")
        found = [m async for m in self.builder.build(BuildOptions(**options), chunks())]
        return found, "".join(m.get("stream", "") for m in found)

    async def run(self, image: str, cmd: list[str] | None = None) -> tuple[int, str]:
        containers = self.containers
        config: dict[str, Any] = {"Image": image}
        if cmd is not None:
            config["Cmd"] = cmd
        container_id, _ = await containers.create(None, config, {"NetworkMode": "host"})
        try:
            _, session = await containers.attach(container_id, stdin=False, stdout=True,
                                                 stderr=True)  # fmt: skip
            exited = containers.wait_for(container_id, "next-exit")
            await containers.start(container_id)
            output = b""
            while (item := await session.next_output()) is not None:
                output += item[1]
            status = await exited
            return int(status["StatusCode"]), output.decode()
        finally:
            await containers.remove(container_id, force=True)


@asynccontextmanager
async def daemon_parts(tmp_path: Path, mirror: RegistryServer) -> AsyncIterator[Parts]:
    """ketchd's images and containers services (no network part: pyroute2's sockets belong
    to one event loop, and each test runs its own; the builds use the host's network)."""
    unique = uuid.uuid4().hex[:8]
    exec_root = Path(tempfile.mkdtemp(prefix="kt-", dir="/tmp"))
    data_root = tmp_path / "data"
    cgroup_parent = f"ketch-test-{unique}"
    snapshots = SnapshotStore(data_root / "snapshots")
    images = ImageService(data_root / "images", ContentStore(data_root / "content"), snapshots,
                          RegistryConfig(mirrors=[mirror.url]))  # fmt: skip
    shims = ShimBackend(exec_root)
    containers = ContainerService(data_root / "containers", images, snapshots, shims,
                                  run=RunSettings(cgroup_parent))  # fmt: skip
    images.image_in_use = containers.image_user
    images.image_running = containers.image_running_user
    builder = BuildService(data_root / "builder", images, containers, snapshots, TOOLS)
    try:
        yield Parts(images, containers, builder)
    finally:
        with suppress(Exception):
            await containers.close()
        pids = daemon_fixture._shim_pids(data_root)
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, 9)
        daemon_fixture._kill_cgroup_members(cgroup_parent)
        daemon_fixture._wait_gone(pids)
        daemon_fixture._unmount_under(data_root)
        daemon_fixture._unmount_under(exec_root)
        daemon_fixture._remove_cgroups(cgroup_parent)
        shutil.rmtree(exec_root, ignore_errors=True)


def history(parts: Parts, name: str) -> list[dict[str, Any]]:
    return list(parts.images.get(name).config["history"])


# -- the tests -----------------------------------------------------------------------------

MULTI_STAGE = """\
FROM busybox AS b
RUN echo hi > /x
FROM busybox
COPY --from=b /x /x
CMD ["cat", "/x"]
"""


def test_multi_stage_build_runs_and_caches(tmp_path: Path, hub_mirror: RegistryServer) -> None:
    async def scenario() -> None:
        async with daemon_parts(tmp_path, hub_mirror) as parts:
            found, text = await parts.build(MULTI_STAGE, tags=["app:1"])
            assert not [m for m in found if "error" in m], found
            assert "Step 1/5 : FROM busybox AS b\n" in text
            assert "Step 2/5 : RUN echo hi > /x\n ---> Running in " in text
            assert re.search(r" ---> Removed intermediate container [0-9a-f]{12}\n", text)
            assert "Step 5/5 : CMD [\"cat\", \"/x\"]\n" in text
            image = parts.images.get("app:1")
            auxes = [m["aux"]["ID"] for m in found if "aux" in m]
            assert auxes[-1] == image.id and len(auxes) == 2  # one per stage
            # The RUN's layer holds what it wrote, none of the container's mount points.
            stage_b = parts.images.get(auxes[0])
            layer = parts.images.snapshots.layer_path(stage_b.chain_id)  # type: ignore[attr-defined]
            assert sorted(os.listdir(layer)) == ["x"]
            assert text.endswith(f"Successfully built {image.short_id}\n"
                                 "Successfully tagged app:1\n")  # fmt: skip
            assert image.config["config"]["Cmd"] == ["cat", "/x"]
            steps = image.config["history"][-2:]
            assert steps[0]["created_by"].startswith("/bin/sh -c #(nop) COPY file:")
            assert steps[0]["created_by"].endswith(" in /x ")
            assert "empty_layer" not in steps[0]
            assert steps[1] == {"created": steps[1]["created"], "empty_layer": True,
                                "created_by": '/bin/sh -c #(nop)  CMD ["cat" "/x"]'}  # fmt: skip
            base = parts.images.get("busybox")
            assert len(image.diff_ids) == len(base.diff_ids) + 1
            assert await parts.run("app:1") == (0, "hi\n")
            assert parts.containers.list(all=True) == []

            again, text = await parts.build(MULTI_STAGE, tags=["app:2"])
            assert text.count(" ---> Using cache\n") == 3
            assert " ---> Running in" not in text
            assert parts.images.get("app:2").id == image.id

            changed, text = await parts.build(MULTI_STAGE.replace("echo hi", "echo ho"))
            assert text.count(" ---> Using cache\n") == 0
            built = [m["aux"]["ID"] for m in changed if "aux" in m][-1]
            assert built != image.id
            assert await parts.run(built) == (0, "ho\n")

            fresh, text = await parts.build(MULTI_STAGE, no_cache=True)
            assert " ---> Using cache" not in text

            usage = parts.builder.cache_usage()
            assert len(usage) >= 6 and all(row["Type"] == "regular" for row in usage)

    asyncio.run(scenario())


def test_failing_run_leaves_no_tag_and_no_running_container(
    tmp_path: Path, hub_mirror: RegistryServer
) -> None:
    async def scenario() -> None:
        async with daemon_parts(tmp_path, hub_mirror) as parts:
            found, text = await parts.build("FROM busybox\nRUN echo out; false\n", tags=["bad:1"])
            assert found[-1] == {
                "errorDetail": {"code": 1, "message":
                                "The command '/bin/sh -c echo out; false' returned a non-zero "
                                "code: 1"},
                "error": "The command '/bin/sh -c echo out; false' returned a non-zero code: 1",
            }  # fmt: skip
            assert "out\n" in text
            assert not any("Successfully" in m.get("stream", "") for m in found)
            with pytest.raises(Exception, match="No such image"):
                parts.images.get("bad:1")
            left = parts.containers.list(all=True)
            # As the legacy builder: rm keeps a failed step's (stopped) container...
            assert len(left) == 1 and left[0]["State"] == "exited"
            await parts.containers.remove(left[0]["Id"])
            # ...and force_remove removes it too.
            found, _ = await parts.build("FROM busybox\nRUN exit 3\n", force_remove=True)
            assert found[-1]["errorDetail"]["code"] == 3
            assert parts.containers.list(all=True) == []

    asyncio.run(scenario())


ARGS = """\
ARG BASE=busybox
ARG UNUSED_META=1
FROM $BASE
ARG WHO=nobody
ARG BASE
ENV GREETING=hello-$WHO FROM=$BASE
USER 1000:1000
WORKDIR /tmp/work
RUN echo "$GREETING $WHO $FROM $(id -u) $(pwd) $HTTP_PROXY" > /tmp/out
WORKDIR sub
HEALTHCHECK --interval=30s --retries=3 CMD true
LABEL built=yes
"""


def test_args_env_user_workdir_healthcheck(tmp_path: Path, hub_mirror: RegistryServer) -> None:
    async def scenario() -> None:
        async with daemon_parts(tmp_path, hub_mirror) as parts:
            found, text = await parts.build(
                ARGS.replace("USER 1000:1000\n", "RUN chmod 1777 /tmp\nUSER 1000:1000\n"),
                tags=["args:1"],
                build_args={"WHO": "me", "HTTP_PROXY": "http://proxy:1", "EXTRA": "x"},
                labels={"from": "options"},
            )
            assert not [m for m in found if "error" in m], found
            assert "[Warning] One or more build-args [EXTRA] were not consumed\n" in text
            image = parts.images.get("args:1")
            config = image.config["config"]
            assert "GREETING=hello-me" in config["Env"] and "FROM=busybox" in config["Env"]
            assert not any(e.startswith("WHO=") for e in config["Env"])  # ARGs stay out
            assert config["User"] == "1000:1000"
            assert config["WorkingDir"] == "/tmp/work/sub"
            assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"],
                                             "Interval": 30_000_000_000, "Retries": 3}  # fmt: skip
            assert config["Labels"] == {"built": "yes", "from": "options"}
            code, out = await parts.run("args:1", ["cat", "/tmp/out"])
            assert (code, out) == (0, "hello-me me busybox 1000 /tmp/work http://proxy:1\n")
            created = [h["created_by"] for h in history(parts, "args:1")]
            run = next(c for c in created if "echo" in c)
            # The declared args, sorted; the proxy arg (not declared) not in the history.
            assert run.startswith("|2 BASE=busybox WHO=me /bin/sh -c echo")
            assert "/bin/sh -c #(nop)  ARG WHO=nobody" in created
            assert "/bin/sh -c #(nop)  ENV GREETING=hello-me FROM=busybox" in created
            assert "/bin/sh -c #(nop) WORKDIR /tmp/work" in created
            assert "/bin/sh -c #(nop)  USER 1000:1000" in created
            assert ("/bin/sh -c #(nop)  HEALTHCHECK &{Test:[CMD-SHELL true] Interval:30s "
                    "Timeout:0s StartPeriod:0s StartInterval:0s Retries:3}") in created  # fmt: skip
            # WORKDIR /tmp/work made a directory (a layer); `sub` too; LABEL none.
            entries = history(parts, "args:1")
            workdirs = [h for h in entries if "WORKDIR" in h["created_by"]]
            assert all("empty_layer" not in h for h in workdirs)
            assert entries[-1]["empty_layer"] is True

    asyncio.run(scenario())


TARGETS = """\
FROM busybox AS unused
RUN exit 9
FROM busybox AS base
RUN echo base > /base
FROM base AS target
ONBUILD RUN echo triggered > /t
RUN cat /base
FROM busybox AS last
RUN exit 7
"""


def test_target_builds_only_the_stages_it_needs(
    tmp_path: Path, hub_mirror: RegistryServer
) -> None:
    async def scenario() -> None:
        async with daemon_parts(tmp_path, hub_mirror) as parts:
            found, text = await parts.build(TARGETS, target="target", tags=["t:1"])
            assert not [m for m in found if "error" in m], found
            assert "exit 9" not in text and "exit 7" not in text
            assert "Step 1/5 : FROM busybox AS base\n" in text
            assert "base\n" in text
            image = parts.images.get("t:1")
            assert image.config["config"]["OnBuild"] == ["RUN echo triggered > /t"]
            # The trigger runs in a build FROM the image, and is not inherited.
            found, text = await parts.build("FROM t:1\n", tags=["child:1"])
            assert "# Executing 1 build trigger\n" in text, found
            child = parts.images.get("child:1")
            assert child.config["config"]["OnBuild"] is None
            assert await parts.run("child:1", ["cat", "/t"]) == (0, "triggered\n")

            found, _ = await parts.build(TARGETS, target="nope")
            assert found[-1]["error"] == 'target stage "nope" could not be found'

    asyncio.run(scenario())


def test_run_cache_mount_persists_between_builds(
    tmp_path: Path, hub_mirror: RegistryServer
) -> None:
    dockerfile = ("FROM busybox\nRUN --mount=type=cache,target=/cache "
                  "echo x >> /cache/n && wc -l < /cache/n > /count\n")  # fmt: skip

    async def scenario() -> None:
        async with daemon_parts(tmp_path, hub_mirror) as parts:
            await parts.build(dockerfile, tags=["c:1"])
            await parts.build(dockerfile, tags=["c:2"], no_cache=True)
            assert await parts.run("c:2", ["cat", "/count"]) == (0, "2\n")
            # Neither the cache nor its mount point is in the image.
            assert await parts.run("c:2", ["ls", "/cache"]) == (
                1, "ls: /cache: No such file or directory\n"
            )

    asyncio.run(scenario())


# -- stages at once ------------------------------------------------------------------------


def meet(marker: str, other: str, then: str) -> str:
    """A RUN that leaves `marker` in a cache mount the build's stages share and waits (30 s
    at most) for `other`: both get past it only if both containers run at the same time."""
    return (f"touch /meet/{marker}; for i in $(seq 300); do [ -e /meet/{other} ] && break; "
            f"sleep 0.1; done; test -e /meet/{other} && {then}")  # fmt: skip


def test_independent_stages_run_at_once(tmp_path: Path, hub_mirror: RegistryServer) -> None:
    shared = f"--mount=type=cache,target=/meet,id=meet-{uuid.uuid4().hex[:8]}"
    dockerfile = (
        "FROM busybox AS a\n"
        f"RUN {shared} {meet('a', 'b', 'echo a > /a')}\n"
        "FROM busybox AS b\n"
        f"RUN {shared} {meet('b', 'a', 'echo b > /b')}\n"
        "FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"
    )

    async def scenario() -> None:
        async with daemon_parts(tmp_path, hub_mirror) as parts:
            found, text = await parts.build(dockerfile, tags=["met:1"])
            assert not [m for m in found if "error" in m], found
            assert await parts.run("met:1", ["cat", "/a", "/b"]) == (0, "a\nb\n")
            # Each stage wanted busybox, not here yet: one pull, in the first stage's messages.
            pulling = {"status": "Pulling from library/busybox", "id": "latest"}
            pulls = [i for i, m in enumerate(found) if m == pulling]
            assert pulls == [1], found
            # The stream is in stage order all the same.
            steps = re.findall(r"Step (\d)/7", text)
            assert steps == [str(n) for n in range(1, 8)]
            assert parts.containers.list(all=True) == []

    asyncio.run(scenario())


AHEAD = """\
FROM busybox AS slow
RUN sleep 1; echo slow-out; echo slow > /slow
FROM busybox AS quick
RUN echo quick-out; echo quick > /quick
FROM busybox
COPY --from=slow /slow /slow
COPY --from=quick /quick /quick
CMD ["cat", "/slow", "/quick"]
"""


def normalised(found: list[dict[str, Any]]) -> list[Any]:
    """The messages with image and container ids (which differ build to build) as `<id>`."""
    text = json.dumps(found)
    return list(json.loads(re.sub(r"(sha256:)?[0-9a-f]{64}|\b[0-9a-f]{12}\b", "<id>", text)))


def test_stages_at_once_give_what_one_after_the_other_gives(
    tmp_path: Path, hub_mirror: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with daemon_parts(tmp_path, hub_mirror) as parts:
            await parts.images.pull("busybox", lambda _: None)
            at_once, _ = await parts.build(AHEAD, tags=["ahead:1"], no_cache=True)
            # The legacy builder's order: every stage waits for all the ones before it.
            with monkeypatch.context() as patch:
                patch.setattr(plan, "dependencies", lambda file, stages, expand: [
                    frozenset(range(position)) for position in range(len(stages))
                ])  # fmt: skip
                in_turn, _ = await parts.build(AHEAD, tags=["ahead:1"], no_cache=True)
            assert normalised(at_once) == normalised(in_turn)
            texts = [m.get("stream", "") for m in at_once]
            assert texts.index("slow-out\n") < texts.index("Step 3/8 : FROM busybox AS quick\n")
            assert texts[-1] == "Successfully tagged ahead:1\n"
            built = [parts.images.get(next(m["aux"]["ID"] for m in reversed(found) if "aux" in m))
                     for found in (at_once, in_turn)]  # fmt: skip
            assert built[0].id != built[1].id  # two builds (no cache), each its own image
            histories = [[h["created_by"] for h in image.config["history"]] for image in built]
            assert histories[0] == histories[1]
            assert len(built[0].diff_ids) == len(built[1].diff_ids)
            assert built[0].config["config"]["Cmd"] == built[1].config["config"]["Cmd"]
            for image in built:
                assert await parts.run(image.id) == (0, "slow\nquick\n")

    asyncio.run(scenario())


def test_a_failing_stage_cancels_the_others(tmp_path: Path, hub_mirror: RegistryServer) -> None:
    shared = f"--mount=type=cache,target=/meet,id=meet-{uuid.uuid4().hex[:8]}"
    dockerfile = (
        "FROM busybox AS slow\n"
        f"RUN {shared} touch /meet/slow; sleep 60\n"
        "FROM busybox AS bad\n"
        f"RUN {shared} {meet('bad', 'slow', 'echo failing; exit 5')}\n"
        "FROM busybox\nCOPY --from=slow /etc/hostname /s\nCOPY --from=bad /etc/hostname /b\n"
    )

    async def scenario() -> None:
        async with daemon_parts(tmp_path, hub_mirror) as parts:
            found, text = await parts.build(dockerfile, tags=["cancelled:1"])
            assert found[-1]["errorDetail"]["code"] == 5, found
            assert "failing\n" in text
            running = re.findall(r" ---> Running in ([0-9a-f]{12})\n", text)
            assert len(running) == 2
            slow, bad = running
            # slow's messages (its RUN never ended: no image, no removal), then bad's.
            assert text.index(f"Running in {slow}") < text.index("Step 3/7 : FROM busybox AS bad")
            assert f"Removed intermediate container {slow}" not in text
            assert not [m for m in found if "aux" in m]
            assert "Successfully" not in text
            with pytest.raises(Exception, match="No such image"):
                parts.images.get("cancelled:1")
            # The cancelled stage's container is gone; the failed step's is kept (rm, not
            # forcerm), as the legacy builder keeps it.
            left = parts.containers.list(all=True)
            assert [c["Id"][:12] for c in left] == [bad] and left[0]["State"] == "exited"
            await parts.containers.remove(bad)

    asyncio.run(scenario())
