"""The containers service on fakes of what it needs (images, snapshots, shims): its
lifecycle, restart policy, execs, restore, and that a removed container leaves nothing."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ketch import errors
from ketch.containers.contracts import Exit, Images, ShimManager, Snapshotter, Streams
from ketch.containers.entry import Entry, ExecRecord
from ketch.containers.events import EventBus
from ketch.containers.record import Container
from ketch.containers.service import ContainerService
from ketch.images.model import Image
from ketch.snapshots.mounts import Mount

IMAGE = Image(
    id="sha256:" + "ab" * 32,
    repo_tags=["hello:latest"],
    repo_digests=[],
    config={"config": {"Cmd": ["/hello"], "Env": ["PATH=/bin"]}},
    chain_id=None,
    size=1234,
    created="2026-01-01T00:00:00Z",
)


class FakeImages:
    def get(self, name_or_id: str) -> Image:
        if name_or_id in ("hello", "hello:latest", IMAGE.id):
            return IMAGE
        raise errors.no_such_image(name_or_id)

    async def create_image(
        self,
        config: dict[str, Any],
        layer_tars: list[Path],
        parent: Image | None = None,
        tags: list[str] | None = None,
    ) -> Image:
        raise errors.NotImplementedYet("not in these tests")


class FakeSnapshots:
    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self, key: str, chain_id: str | None) -> list[Mount]:
        (self.root / key / "upper").mkdir(parents=True, exist_ok=True)
        return self.mounts(key)

    def mounts(self, key: str) -> list[Mount]:
        upper = self.root / key / "upper"
        if not upper.is_dir():
            raise errors.NotFound(f"snapshot does not exist: {key}")
        return [Mount(type="bind", source=str(upper), destination="/", options=["rbind"])]

    def remove(self, key: str) -> None:
        import shutil

        if not (self.root / key).exists():
            raise errors.NotFound(f"snapshot does not exist: {key}")
        shutil.rmtree(self.root / key)

    def snapshot_path(self, key: str) -> Path:
        return self.root / key

    def layer_dirs(self, chain_id: str | None) -> list[Path]:
        return []


class FakeExec:
    def __init__(self, code: int) -> None:
        self.pid = 4242
        self.shim_exec_id = "e1"
        self.streams: Streams | None = None
        self.code = code

    async def wait(self) -> int:
        return self.code

    async def kill(self, signal: int) -> None:
        pass


class FakeShim:
    """A container that runs until killed (or told to exit with a code)."""

    def __init__(self, container_id: str, *, fail_start: errors.KetchError | None = None) -> None:
        self.container_id = container_id
        self.shim_pid = 1000
        self.shim_start_time = 1
        self.pid = 4000  # the container's init, made (and waiting) when the shim is
        self.started = False
        self.exited: Exit | None = None
        self.fail_start = fail_start
        self.signals: list[int] = []
        self.resized: list[tuple[int, int]] = []
        self.ignores_term = False
        self.closed = False
        self.shut_down = False
        self._exit: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()

    def exit(self, code: int) -> None:
        if not self._exit.done():
            self._exit.set_result(Exit(code, False, "2026-01-01T00:00:01.000000000Z"))

    async def start(self) -> None:
        if self.fail_start is not None:
            raise self.fail_start
        self.started = True

    async def wait(self) -> Exit:
        return await asyncio.shield(self._exit)

    async def state(self) -> dict[str, Any]:
        return {"status": "running" if self.started else "created", "started_at": ""}

    async def attach(self, stdin: bool, stdout: bool, stderr: bool) -> Streams:
        raise errors.NotImplementedYet("not in these tests")

    async def resize(self, height: int, width: int) -> None:
        self.resized.append((height, width))

    async def kill(self, signal_number: int) -> None:
        self.signals.append(signal_number)
        if signal_number == signal.SIGTERM and self.ignores_term:
            return
        self.exit(128 + signal_number)

    async def pause(self) -> None:
        pass

    async def resume(self) -> None:
        pass

    async def exec(self, exec_id: str, config: dict[str, Any], *, detach: bool) -> FakeExec:
        return FakeExec(len(config["Cmd"]))

    async def exec_resize(self, shim_exec_id: str, height: int, width: int) -> None:
        pass

    async def shutdown(self) -> None:
        self.shut_down = True
        await self.close()

    async def close(self) -> None:
        self.closed = True


class FakeShims:
    def __init__(self) -> None:
        self.spawned: list[FakeShim] = []
        self.live: dict[str, FakeShim] = {}
        self.fail_next_start: errors.KetchError | None = None
        self.fail_next_spawn: errors.KetchError | None = None
        self.spawn_gate: asyncio.Event | None = None  # set: a spawn waits for it
        self.closed = False

    async def spawn(
        self,
        container: Container,
        *,
        rootfs_mounts: Sequence[dict[str, Any]],
        cgroup_parent: str,
        log_max_size: int,
        log_max_files: int,
    ) -> FakeShim:
        assert rootfs_mounts and rootfs_mounts[0]["destination"] == "/"
        await asyncio.sleep(0)  # as a real spawn, it lets the network's setup run meanwhile
        if self.spawn_gate is not None:
            await self.spawn_gate.wait()
        if self.fail_next_spawn is not None:
            failure, self.fail_next_spawn = self.fail_next_spawn, None
            raise failure
        shim = FakeShim(container.id, fail_start=self.fail_next_start)
        self.fail_next_start = None
        self.spawned.append(shim)
        self.live[container.id] = shim
        return shim

    async def reconnect(self, container: Container) -> FakeShim | None:
        return self.live.get(container.id)

    async def end_of_lost_shim(self, container: Container, cgroup_parent: str) -> Exit:
        return Exit(137, False, "", "shim disconnected")

    async def close(self) -> None:
        self.closed = True


def make_service(root: Path, shims: FakeShims | None = None) -> tuple[ContainerService, FakeShims]:
    shims = shims or FakeShims()
    images: Images = FakeImages()
    snapshots: Snapshotter = FakeSnapshots(root / "snapshots")
    manager: ShimManager = shims
    return ContainerService(root / "containers", images, snapshots, manager), shims


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 20))


def test_create_start_and_an_exit_recorded_for_waiters_and_on_disk(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        events = service.events.subscribe()
        cid, warnings = await service.create("web", {"Image": "hello"})
        assert warnings == []
        waiting = service.wait_for("web", "next-exit")
        await service.start(cid[:6])
        view = service.inspect("web")
        assert view["State"]["Running"] is True and view["State"]["Pid"] == 4000
        assert view["Path"] == "/hello" and view["Config"]["Image"] == "hello"
        shims.spawned[0].exit(3)
        assert await waiting == {"StatusCode": 3}
        assert service.get(cid).state["Running"] is False
        on_disk = json.loads((tmp_path / "containers" / cid / "config.v2.json").read_text())
        assert on_disk["State"]["ExitCode"] == 3 and on_disk["State"]["Status"] == "exited"
        # The shim is told to go once it reported the exit: it would linger otherwise.
        assert shims.spawned[0].shut_down and shims.spawned[0].closed
        actions = [events.get_nowait()["Action"] for _ in range(events.qsize())]
        assert actions == ["create", "start", "die"]

    run(body)


def test_a_missing_image_is_named_as_the_cli_will_pull_it(tmp_path: Path) -> None:
    async def body() -> None:
        service, _ = make_service(tmp_path)
        with pytest.raises(errors.NotFound, match="No such image: busybox:latest"):
            await service.create(None, {"Image": "busybox"})
        assert list((tmp_path / "containers").iterdir()) == []

    run(body)


def test_stop_sends_term_then_kill_after_the_timeout(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        cid, _ = await service.create(None, {"Image": "hello"})
        await service.start(cid)
        shims.spawned[0].ignores_term = True
        await service.stop(cid, timeout=0)
        assert shims.spawned[0].signals == [signal.SIGTERM, signal.SIGKILL]
        assert service.get(cid).state["ExitCode"] == 137
        with pytest.raises(errors.NotModified):
            await service.stop(cid)

    run(body)


def test_resize_before_start_is_applied_at_start(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        cid, _ = await service.create(None, {"Image": "hello", "Tty": True})
        await service.resize(cid, 40, 120)
        await service.start(cid)
        assert shims.spawned[0].resized == [(40, 120)]

    run(body)


def test_a_command_that_cannot_start_is_a_400_and_auto_remove_takes_the_container(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        cid, _ = await service.create(None, {"Image": "hello"}, {"AutoRemove": True})
        failure = errors.KetchError('exec: "/hello": no such file')
        failure.kind = "start"  # type: ignore[attr-defined]
        failure.exit_code = 127  # type: ignore[attr-defined]
        shims.fail_next_start = failure
        waiting = service.wait_for(cid, "removed")
        with pytest.raises(errors.InvalidArgument, match="failed to create task"):
            await service.start(cid)
        assert await waiting == {"StatusCode": 127}
        assert shims.spawned[0].shut_down
        assert len(service.table) == 0
        assert not (tmp_path / "containers" / cid).exists()

    run(body)


def test_on_failure_restarts_with_backoff_up_to_the_maximum(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        policy = {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}
        cid, _ = await service.create(None, {"Image": "hello"}, policy)
        await service.start(cid)
        for run_number in range(3):
            while len(shims.spawned) <= run_number or not shims.spawned[run_number].started:
                await asyncio.sleep(0.01)
            shims.spawned[run_number].exit(1)
            await asyncio.sleep(0)
        while service.get(cid).state["Running"] or service.get(cid).state["Restarting"]:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # longer than the backoff: no fourth run comes
        assert len(shims.spawned) == 3
        assert service.get(cid).restart_count == 2

    run(body)


def test_stop_cancels_a_pending_restart(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        always = {"RestartPolicy": {"Name": "always"}}
        cid, _ = await service.create(None, {"Image": "hello"}, always)
        await service.start(cid)
        shims.spawned[0].exit(0)
        while not service.get(cid).state["Restarting"]:
            await asyncio.sleep(0.01)
        entry = service.table.get(cid)
        assert entry.restart_timer is not None
        with pytest.raises(errors.NotModified):
            await service.stop(cid)
        assert entry.restart_timer is None and not service.get(cid).state["Restarting"]
        await asyncio.sleep(0.3)
        assert len(shims.spawned) == 1

    run(body)


def test_exec_runs_in_the_container_and_is_inspectable(tmp_path: Path) -> None:
    async def body() -> None:
        service, _ = make_service(tmp_path)
        cid, _ = await service.create(None, {"Image": "hello", "Env": ["A=1"]})
        with pytest.raises(errors.Conflict, match="is not running"):
            service.execs.exec_create(cid, {"Cmd": ["true"]})
        await service.start(cid)
        exec_id = service.execs.exec_create(cid, {"Cmd": ["sh", "-c", "exit 3"], "Env": ["B=2"]})
        record, session = await service.execs.exec_start(exec_id, detach=True)
        assert session is None
        await record.done.wait()
        view = service.execs.exec_inspect(exec_id)
        assert view["ExitCode"] == 3 and view["Running"] is False and view["Pid"] == 4242
        assert record.config["Env"] == ["PATH=/bin", "A=1", "B=2"]
        assert service.inspect(cid)["ExecIDs"] == [exec_id]
        with pytest.raises(errors.Conflict, match="already been started"):
            await service.execs.exec_start(exec_id)
        with pytest.raises(errors.NotFound, match="No such exec instance"):
            service.execs.exec_inspect("nope")

    run(body)


def test_restore_rewatches_live_shims_and_settles_the_dead(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        alive, _ = await service.create("alive", {"Image": "hello"})
        dead, _ = await service.create("dead", {"Image": "hello"})
        await service.start(alive)
        await service.start(dead)
        await service.close()  # the daemon goes; containers keep running
        assert shims.closed
        del shims.live[dead]  # its shim died while the daemon was away

        again, _ = make_service(tmp_path, shims)
        await again.restore()
        # What the shims' manager says of a lost shim is recorded, with its reason.
        assert again.get("dead").state["ExitCode"] == 137
        assert again.get("dead").state["Error"] == "shim disconnected"
        assert again.get("alive").state["Running"] is True
        waiting = again.wait_for("alive")
        shims.live[alive].exit(0)
        assert await waiting == {"StatusCode": 0}

    run(body)


def test_names_conflict_and_rename_frees_the_old_name(tmp_path: Path) -> None:
    async def body() -> None:
        service, _ = make_service(tmp_path)
        cid, _ = await service.create("one", {"Image": "hello"})
        with pytest.raises(errors.Conflict, match='name "/one" is already in use'):
            await service.create("one", {"Image": "hello"})
        service.rename("one", "two")
        assert service.get("two").id == cid
        with pytest.raises(errors.NotFound):
            service.get("one")
        other, _ = await service.create("one", {"Image": "hello"})
        assert other != cid

    run(body)


def test_prune_removes_stopped_containers_and_reports_their_layers_bytes(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        stopped, _ = await service.create(None, {"Image": "hello"})
        running, _ = await service.create(None, {"Image": "hello"})
        await service.start(running)
        (tmp_path / "snapshots" / stopped / "upper" / "data").write_bytes(b"x" * 5000)
        result = await service.prune()
        assert result == {"ContainersDeleted": [stopped], "SpaceReclaimed": 5000}
        assert [e.id for e in service.table] == [running]

    run(body)


def test_nothing_grows_over_200_create_exec_remove_cycles(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        tasks_before = asyncio.all_tasks()
        for _ in range(200):
            cid, _ = await service.create("cycle", {"Image": "hello"})  # its name freed each time
            await service.resize(cid, 10, 10)  # kept for a start that never comes
            service.wait_for(cid, "removed")
            await service.start(cid)
            exec_id = service.execs.exec_create(cid, {"Cmd": ["true"]})
            record, _ = await service.execs.exec_start(exec_id, detach=True)
            await record.done.wait()
            await service.remove(cid, force=True)
            shims.live.clear()
            shims.spawned.clear()  # the fake's own memory of them, not the service's
        del record  # the test's own last reference
        await asyncio.sleep(0)
        assert len(service.table) == 0
        assert list((tmp_path / "containers").iterdir()) == []
        assert list((tmp_path / "snapshots").iterdir()) == []
        gc.collect()
        kept = [o for o in gc.get_objects() if isinstance(o, (Entry, ExecRecord, FakeShim))]
        assert kept == []
        assert asyncio.all_tasks() == tasks_before  # no watcher, exec or timer task left

    run(body)


def test_events_reach_only_subscribed_listeners_and_unsubscribe_stops_them() -> None:
    async def body() -> None:
        bus = EventBus()
        queue = bus.subscribe()
        bus.publish("image", "pull", "x")
        bus.unsubscribe(queue)
        bus.publish("image", "tag", "x")
        assert [queue.get_nowait()["Action"] for _ in range(queue.qsize())] == ["pull"]

    run(body)


def test_restore_skips_records_it_cannot_take_and_keeps_the_rest(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims = make_service(tmp_path)
        first, _ = await service.create("one", {"Image": "hello"})
        second, _ = await service.create("two", {"Image": "hello"})
        broken, _ = await service.create("three", {"Image": "hello"})
        record = tmp_path / "containers" / second / "config.v2.json"
        record.write_text(record.read_text().replace('"/two"', '"/one"'))
        (tmp_path / "containers" / broken / "config.v2.json").write_text("{not json")

        again, _ = make_service(tmp_path, shims)
        await again.restore()
        # One of the two claiming "/one" (whichever is read first) and not the broken one.
        assert len(again.table) == 1 and again.get("one").id in (first, second)

    run(body)


class FakeNetworks:
    """Networks by name; an attach records its request and hands out the next address."""

    def __init__(self) -> None:
        from ketch.network.model import Network

        self.nets = {
            name: Network(id=name[0] * 64, name=name, driver=driver, created="",
                          subnet=subnet, gateway=gateway)  # fmt: skip
            for name, driver, subnet, gateway in (
                ("bridge", "bridge", "10.89.0.0/24", "10.89.0.1"),
                ("appnet", "bridge", "10.89.1.0/24", "10.89.1.1"),
                ("host", "host", "", ""), ("none", "null", "", ""),
            )
        }
        self.attached: dict[str, list[Any]] = {}
        self.taken_ports: set[int] = set()
        self.netns: list[str] = []
        self.namespaces: set[str] = set()  # made and not yet removed

    def create_namespace(self, path: str) -> None:
        assert path not in self.namespaces, "a second namespace over a held one"
        Path(path).touch()
        self.namespaces.add(path)

    def remove_namespace(self, path: str) -> None:
        self.namespaces.discard(path)
        Path(path).unlink(missing_ok=True)

    def get(self, name_or_id: str) -> Any:
        for network in self.nets.values():
            if name_or_id in (network.name, network.id):
                return network
        raise errors.NotFound(f"network {name_or_id} not found")

    async def attach(self, container_id: str, container_name: str, netns_path: str,
                     request: Any, ports: Sequence[Any] = ()) -> Any:  # fmt: skip
        from ketch.network.model import Endpoint

        network = self.get(request.network)
        for port in ports:
            if port.host_port in self.taken_ports:
                raise errors.Conflict(f"Bind for 0.0.0.0:{port.host_port} failed: port is "
                                      "already allocated")  # fmt: skip
        mine = self.attached.setdefault(container_id, [])
        ip = network.gateway.rsplit(".", 1)[0] + f".{len(mine) + 2}"
        endpoint = Endpoint(network.id, network.name, container_id, "e" * 64, ip, 24,
                            network.gateway, "02:42:00:00:00:02", "veth0",
                            [container_name, *request.aliases], list(ports))  # fmt: skip
        mine.append(endpoint)
        self.netns.append(netns_path)
        return endpoint

    async def detach(
        self, container_id: str, network: str | None = None, *, namespace_gone: bool = False
    ) -> None:
        kept = [e for e in self.attached.get(container_id, [])
                if network is not None and e.network_id != network]  # fmt: skip
        self.attached[container_id] = kept

    def endpoints(self, container_id: str) -> list[Any]:
        return list(self.attached.get(container_id, []))


def networked_service(root: Path) -> tuple[ContainerService, FakeShims, FakeNetworks]:
    shims, networks = FakeShims(), FakeNetworks()
    service = ContainerService(root / "containers", FakeImages(), FakeSnapshots(root / "snaps"),
                               shims, networks=networks)  # fmt: skip
    return service, shims, networks


def test_a_start_attaches_the_networks_and_an_exit_detaches_them(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims, networks = networked_service(tmp_path)
        cid, _ = await service.create(
            "web", {"Image": "hello", "ExposedPorts": {"80/tcp": {}}},
            {"NetworkMode": "appnet", "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
            {"EndpointsConfig": {"appnet": {"Aliases": ["www"]}, "bridge": {}}},
        )  # fmt: skip
        resolv = (tmp_path / "containers" / cid / "resolv.conf").read_text()
        assert resolv.startswith("nameserver 10.89.1.1\n")  # appnet's DNS
        await service.start(cid)
        # Both endpoints in the namespace made for it, which its config.json joins.
        netns = str(tmp_path / "containers" / cid / "netns")
        assert networks.netns == [netns] * 2 and networks.namespaces == {netns}
        spec = json.loads((tmp_path / "containers" / cid / "bundle" / "config.json").read_text())
        assert {"type": "network", "path": netns} in spec["linux"]["namespaces"]
        view = service.inspect(cid)
        settings = view["NetworkSettings"]
        assert settings["Networks"]["appnet"]["IPAddress"] == "10.89.1.2"
        assert settings["Networks"]["appnet"]["Aliases"] == ["www"]
        assert settings["Networks"]["bridge"]["IPAddress"] == "10.89.0.3"
        assert settings["IPAddress"] == "10.89.0.3"  # the default bridge's, as dockerd
        assert settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
        row = service.list()[0]
        assert row["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080,
                                 "Type": "tcp"}]  # fmt: skip
        hosts = (tmp_path / "containers" / cid / "hosts").read_text()
        assert hosts.endswith(f"10.89.1.2\t{cid[:12]}\n")
        assert service.inspect(cid)["NetworkSettings"]["SandboxKey"] == netns
        await service.stop(cid, timeout=1)
        assert networks.endpoints(cid) == [] and networks.namespaces == set()
        assert service.inspect(cid)["NetworkSettings"]["Networks"]["appnet"]["IPAddress"] == ""

    run(body)


def test_a_spawn_that_fails_while_the_network_is_made_leaves_no_endpoint_nor_namespace(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        service, shims, networks = networked_service(tmp_path)
        cid, _ = await service.create(None, {"Image": "hello"}, {})
        shims.fail_next_spawn = errors.Internal("runtime create failed")
        with pytest.raises(errors.Internal, match="runtime create failed"):
            await service.start(cid)
        assert networks.netns  # the endpoint was made meanwhile, and undone
        assert networks.endpoints(cid) == [] and networks.namespaces == set()
        assert service.get(cid).state["Error"] == "runtime create failed"
        await service.start(cid)  # a later start makes them again
        assert len(networks.endpoints(cid)) == 1 and len(networks.namespaces) == 1

    run(body)


def test_a_start_whose_caller_is_cancelled_still_ends_and_remove_then_finds_it(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        service, shims, networks = networked_service(tmp_path)
        cid, _ = await service.create(None, {"Image": "hello"}, {})
        shims.spawn_gate = asyncio.Event()
        caller = asyncio.ensure_future(service.start(cid))
        await asyncio.sleep(0.01)  # the spawn is under way
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        removing = asyncio.ensure_future(service.remove(cid, force=True))
        await asyncio.sleep(0.01)
        assert not removing.done()  # it waits for the start to end
        shims.spawn_gate.set()
        await removing
        # The start ended, and the remove stopped what it started: nothing is left.
        assert shims.spawned[0].started and shims.spawned[0].signals == [signal.SIGKILL]
        assert cid not in [c["Id"] for c in service.list(all=True)]
        assert networks.endpoints(cid) == [] and networks.namespaces == set()

    run(body)


def test_a_port_taken_fails_the_start_and_leaves_no_endpoint(tmp_path: Path) -> None:
    async def body() -> None:
        service, shims, networks = networked_service(tmp_path)
        networks.taken_ports.add(8080)
        cid, _ = await service.create(
            None, {"Image": "hello"}, {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}
        )
        with pytest.raises(errors.Conflict, match="port is already allocated"):
            await service.start(cid)
        assert networks.endpoints(cid) == [] and shims.spawned[0].shut_down
        assert networks.namespaces == set()
        assert service.get(cid).state["Running"] is False

    run(body)


def test_unknown_networks_and_the_host_network_at_create(tmp_path: Path) -> None:
    async def body() -> None:
        service, _, _ = networked_service(tmp_path)
        with pytest.raises(errors.NotFound, match="network nope not found"):
            await service.create(None, {"Image": "hello"}, {"NetworkMode": "nope"})
        cid, _ = await service.create(None, {"Image": "hello"}, {"NetworkMode": "host"})
        import os

        assert service.get(cid).config["Hostname"] == os.uname().nodename

    run(body)


def test_legacy_links_give_variables_and_hosts_entries(tmp_path: Path) -> None:
    async def body() -> None:
        service, _, _ = networked_service(tmp_path)
        db, _ = await service.create("db", {"Image": "hello", "Env": ["PASSWORD=x"],
                                            "ExposedPorts": {"6379/tcp": {}}})  # fmt: skip
        web, _ = await service.create("web", {"Image": "hello"}, {"Links": ["db:olddb"]})
        with pytest.raises(errors.InvalidArgument, match="Cannot link to a non running"):
            await service.start(web)
        await service.start(db)
        await service.start(web)
        spec = json.loads((tmp_path / "containers" / web / "bundle" / "config.json").read_text())
        env = spec["process"]["env"]
        assert "OLDDB_PORT_6379_TCP_ADDR=10.89.0.2" in env
        assert "OLDDB_NAME=/web/olddb" in env and "OLDDB_ENV_PASSWORD=x" in env
        hosts = (tmp_path / "containers" / web / "hosts").read_text()
        assert f"10.89.0.2\tolddb {db[:12]} db\n" in hosts

    run(body)


def test_disconnect_and_connect_again_keep_network_mode(tmp_path: Path) -> None:
    async def body() -> None:
        service, _, networks = networked_service(tmp_path)
        cid, _ = await service.create(None, {"Image": "hello"}, {"NetworkMode": "appnet"})
        await service.start(cid)
        await service.disconnect(cid, "appnet")
        assert networks.endpoints(cid) == []
        assert service.get(cid).host_config["NetworkMode"] == "appnet"
        assert service.inspect(cid)["NetworkSettings"]["Networks"] == {}
        with pytest.raises(errors.Forbidden, match="is not connected to network appnet"):
            await service.disconnect(cid, "appnet")
        await service.connect(cid, "appnet", {"IPAMConfig": {"IPv4Address": "10.89.1.9"},
                                              "DriverOpts": {"k": "v"}})  # fmt: skip
        shown = service.inspect(cid)["NetworkSettings"]["Networks"]["appnet"]
        assert shown["IPAMConfig"] == {"IPv4Address": "10.89.1.9"}
        assert shown["DriverOpts"] == {"k": "v"} and shown["IPAddress"]
        with pytest.raises(errors.Forbidden, match="already exists in network appnet"):
            await service.connect(cid, "appnet")

    run(body)
