"""A monitor killed while 20 containers run: a container's shim, ketchd, the fork server.

Each failure must stay with its own part. A killed shim ends its own container as
containerd ends a task whose shim disconnected: what is left of it is killed through
its cgroup and it exits 137 (128 + SIGKILL), with the reason in State.Error; the
other containers do not notice. A killed ketchd or fork server ends no container.
The shims are found by their processes (shim-state.json's shim_pid, whose command
line is `ketch-shim -id <id>`), the fork server among ketchd's children.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from ketch.runtime import cgroups
from ketch.runtime.procinfo import is_running, proc_start_time
from ketch.testing.daemon import Daemon, run_daemon
from ketch.testing.registry import RegistryServer

pytestmark = pytest.mark.integration

FLEET = 20
# Each member ticks into its log and exits with its own code on SIGTERM (docker stop).
TICKER = 'trap "exit $CODE" TERM; i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.1; done'


@pytest.fixture
def daemon(tmp_path: Path, hub_mirror: RegistryServer) -> Iterator[Daemon]:
    d = run_daemon(tmp_path, mirrors=[hub_mirror.url])
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    sdk = connect(daemon)
    try:
        sdk.images.pull("busybox", tag="latest")
        yield sdk
    finally:
        sdk.close()


def connect(daemon: Daemon) -> docker.DockerClient:
    return docker.DockerClient(base_url=daemon.url, version="1.45", timeout=60)


# -- what the tests look at ----------------------------------------------------------


class Member:
    """One container of the fleet, as the test saw it running."""

    def __init__(self, daemon: Daemon, client: docker.DockerClient, cid: str, code: int):
        self.id = cid
        self.code = code
        self.directory = daemon.data_root / "containers" / cid
        state = client.api.inspect_container(cid)["State"]
        assert state["Running"], state
        self.pid = int(state["Pid"])
        self.pid_start = proc_start_time(self.pid)

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.id}-json.log"

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def shim_pid(self) -> int:
        """The shim, by its recorded pid and checked by its title (as pgrep would)."""
        state = json.loads((self.directory / "shim-state.json").read_text())
        pid = int(state["shim_pid"])
        assert is_running(pid, state["shim_start_time"]), state
        # As ps shows it: the words of its command line, whichever way they are split.
        words = cmdline(pid).replace(b"\0", b" ").split()
        assert words == [b"ketch-shim", b"-id", self.id.encode()], words
        return pid

    def alive(self) -> bool:
        return is_running(self.pid, self.pid_start)


def run_fleet(client: docker.DockerClient, daemon: Daemon, count: int = FLEET,
              prefix: str = "fleet", first_code: int = 10) -> list[Member]:  # fmt: skip
    """`count` tickers started at once, each with its own exit code, all seen ticking."""

    def run(index: int) -> str:
        return client.containers.run(
            "busybox", ["sh", "-c", TICKER], detach=True, name=f"{prefix}-{index}",
            environment={"CODE": str(first_code + index)},
        ).id  # fmt: skip

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(run, range(count)))
    members = [Member(daemon, client, cid, first_code + i) for i, cid in enumerate(ids)]
    wait_until(lambda: all(m.log_size() > 0 for m in members), "every member ticking")
    return members


def wait_until(check: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def forkservers(daemon: Daemon) -> list[int]:
    """ketchd's fork server: its child whose title is `ketch-forkserver <socket>`."""
    return [
        int(pid) for pid in os.listdir("/proc") if pid.isdigit()
        and parent_of(int(pid)) == daemon.pid
        and cmdline(int(pid)).startswith(b"ketch-forkserver ")
    ]  # fmt: skip


def container_processes(daemon: Daemon, cid: str) -> list[tuple[int, int | None]]:
    """Every process in the container's cgroup, with its start time."""
    pids = cgroups.load(daemon.cgroup_parent, cid).pids()
    return [(pid, proc_start_time(pid)) for pid in pids]


def cgroup_exists(daemon: Daemon, cid: str) -> bool:
    return any(d.is_dir() for d in cgroups.load(daemon.cgroup_parent, cid).directories.values())


def assert_untouched(client: docker.DockerClient, members: list[Member]) -> None:
    """Still running, the same init, the log still growing."""
    sizes = {m.id: m.log_size() for m in members}
    for member in members:
        state = client.api.inspect_container(member.id)["State"]
        assert (state["Status"], state["Pid"]) == ("running", member.pid), state
        assert member.alive()
    wait_until(lambda: all(m.log_size() > sizes[m.id] for m in members), "every log growing")


def assert_log_is_ticks(client: docker.DockerClient, cid: str) -> int:
    """The log holds ticks 0, 1, 2... with none missing; returns how many."""
    lines = client.api.logs(cid).decode().splitlines()
    assert lines, "an empty log"
    assert lines == [f"tick-{i}" for i in range(len(lines))], lines[:5]
    return len(lines)


def assert_managed(client: docker.DockerClient, members: list[Member]) -> None:
    """exec, attach and logs -f work on the first of them; stop gives each its code."""
    first = client.containers.get(members[0].id)
    assert first.exec_run(["echo", "inside"]).output == b"inside\n"
    assert_attach_sees_ticks(client, members[0].id)
    assert_follow_sees_new_ticks(client, members[-1].id)
    for member in members:
        assert_log_is_ticks(client, member.id)
    stop_all(client, members)


def assert_attach_sees_ticks(client: docker.DockerClient, cid: str) -> None:
    sock = client.api.attach_socket(cid, params={"stdout": 1, "stream": 1})
    try:
        sock._sock.settimeout(10)
        seen = b""
        while seen.count(b"tick-") < 2:
            chunk = sock._sock.recv(4096)
            assert chunk, seen
            seen += chunk
    finally:
        sock.close()


def assert_follow_sees_new_ticks(client: docker.DockerClient, cid: str) -> None:
    already = len(client.api.logs(cid).splitlines())
    stream = client.api.logs(cid, stream=True, follow=True, tail=0)
    try:
        line = next(iter(stream))
        number = int(line.decode().strip().removeprefix("tick-"))
        assert number >= already
    finally:
        stream.close()


def stop_all(client: docker.DockerClient, members: list[Member]) -> None:
    def stop(member: Member) -> None:
        client.api.stop(member.id, timeout=10)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(stop, members))
    for member in members:
        state = client.api.inspect_container(member.id)["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", member.code), state
        assert not member.alive()


def assert_ended_by_its_dead_shim(daemon: Daemon, client: docker.DockerClient, member: Member,
                                  processes: list[tuple[int, int | None]]) -> None:  # fmt: skip
    """Exited 137 with the reason said, nothing of it left running, its log kept."""
    state = client.api.inspect_container(member.id)["State"]
    assert (state["Status"], state["Running"], state["Pid"]) == ("exited", False, 0), state
    assert state["ExitCode"] == 137, state
    assert "shim" in state["Error"] and "killed" in state["Error"], state
    # Killed: out of the cgroup at once, gone (or a zombie) a moment later.
    wait_until(lambda: not any(is_running(pid, start) for pid, start in processes),
               "its processes gone", 5)  # fmt: skip
    wait_until(lambda: not cgroup_exists(daemon, member.id), "its cgroup removed", 5)
    assert assert_log_is_ticks(client, member.id) > 0


# -- a container's shim killed -------------------------------------------------------


def test_a_killed_shim_ends_its_own_container_alone(daemon: Daemon, client) -> None:
    members = run_fleet(client, daemon)
    victim, others = members[0], members[1:]
    # A second process in the victim: the cgroup, not just the init, must be emptied.
    client.containers.get(victim.id).exec_run(["sleep", "600"], detach=True)
    wait_until(lambda: len(container_processes(daemon, victim.id)) >= 3, "the exec running")
    processes = container_processes(daemon, victim.id)
    shims = {m.id: m.shim_pid() for m in members}

    os.kill(shims[victim.id], signal.SIGKILL)
    wait_until(lambda: not client.api.inspect_container(victim.id)["State"]["Running"],
               "ketchd to see the shim die", 10)  # fmt: skip

    assert_ended_by_its_dead_shim(daemon, client, victim, processes)
    events = client.api.events(since=0, until=int(time.time()) + 1, decode=True,
                               filters={"container": victim.id, "event": "die"})  # fmt: skip
    assert [e["Actor"]["Attributes"]["exitCode"] for e in events] == ["137"]
    assert all(is_running(shims[m.id], proc_start_time(shims[m.id])) for m in others)
    assert_untouched(client, others)
    assert_managed(client, others)
    # The dead container starts again like any exited one.
    client.api.start(victim.id)
    wait_until(lambda: victim.log_size() > 0 and client.api.logs(victim.id).count(b"tick-0") == 2,
               "the restarted victim ticking")  # fmt: skip
    client.api.stop(victim.id, timeout=10)
    assert client.api.inspect_container(victim.id)["State"]["ExitCode"] == victim.code


def test_a_killed_shim_is_an_exit_for_restart_policies_and_rm(daemon: Daemon, client) -> None:
    restarting = client.containers.run(
        "busybox", ["sh", "-c", TICKER], detach=True, environment={"CODE": "3"},
        restart_policy={"Name": "on-failure"},
    )  # fmt: skip
    removed = client.containers.run("busybox", ["sleep", "600"], detach=True, auto_remove=True)
    first = Member(daemon, client, restarting.id, 3)
    wait_until(lambda: first.log_size() > 0, "ticking")
    os.kill(first.shim_pid(), signal.SIGKILL)
    os.kill(Member(daemon, client, removed.id, 0).shim_pid(), signal.SIGKILL)

    def restarted() -> bool:
        state = client.api.inspect_container(restarting.id)["State"]
        return state["Running"] and state["Pid"] != first.pid

    wait_until(restarted, "the on-failure policy to restart it")
    assert client.api.inspect_container(restarting.id)["RestartCount"] == 1
    assert not first.alive()
    wait_until(lambda: removed.id not in {c.id for c in client.containers.list(all=True)},
               "the --rm container removed")  # fmt: skip
    client.api.stop(restarting.id, timeout=10)
    assert client.api.inspect_container(restarting.id)["State"]["ExitCode"] == 3


def test_a_shim_killed_while_ketchd_is_down(daemon: Daemon, client) -> None:
    members = run_fleet(client, daemon)
    victim, others = members[0], members[1:]
    processes = container_processes(daemon, victim.id)
    shim = victim.shim_pid()
    client.close()

    daemon.kill()
    os.kill(shim, signal.SIGKILL)
    daemon.restart()

    again = connect(daemon)
    try:
        assert_ended_by_its_dead_shim(daemon, again, victim, processes)
        assert_untouched(again, others)
        assert_managed(again, others)
    finally:
        again.close()


# -- ketchd killed --------------------------------------------------------------------


def test_a_killed_ketchd_leaves_all_twenty_running(daemon: Daemon, client) -> None:
    members = run_fleet(client, daemon)
    short = [
        client.containers.run("busybox", ["sleep", "1"], detach=True, auto_remove=True).id
        for _ in range(3)
    ]
    exits_meanwhile = client.containers.run("busybox", ["sh", "-c", "sleep 1; exit 5"],
                                            detach=True).id  # fmt: skip
    shims = {m.id: m.shim_pid() for m in members}
    client.close()

    daemon.kill()
    sizes = {m.id: m.log_size() for m in members}
    # The shims write the logs: they grow while nobody serves the API.
    wait_until(lambda: all(m.log_size() > sizes[m.id] for m in members), "logs growing")
    time.sleep(1.2)  # the short ones exit while ketchd is down
    assert all(m.alive() for m in members)
    daemon.restart()

    again = connect(daemon)
    try:
        running = {c.id for c in again.containers.list()}
        assert running == {m.id for m in members}
        every = {c.id for c in again.containers.list(all=True)}
        assert not set(short) & every, "--rm containers that exited meanwhile are removed"
        assert not any((daemon.data_root / "containers" / cid).exists() for cid in short)
        assert again.api.inspect_container(exits_meanwhile)["State"]["ExitCode"] == 5
        assert all(m.shim_pid() == shims[m.id] for m in members)
        assert_untouched(again, members)
        assert_managed(again, members)
    finally:
        again.close()


# -- the fork server killed ------------------------------------------------------------


def test_a_killed_fork_server_leaves_all_twenty_running(daemon: Daemon, client) -> None:
    members = run_fleet(client, daemon)
    (forkserver,) = forkservers(daemon)
    os.kill(forkserver, signal.SIGKILL)
    wait_until(lambda: not is_running(forkserver, proc_start_time(forkserver)),
               "the fork server gone")  # fmt: skip
    assert all(m.alive() for m in members)

    later = run_fleet(client, daemon, count=2, prefix="later", first_code=40)
    (replacement,) = forkservers(daemon)
    assert replacement != forkserver
    assert_untouched(client, members + later)
    client.containers.get(later[0].id).exec_run(["true"])
    assert_managed(client, [*later, *members])


# -- a fast writer while another monitor dies ---------------------------------------------


def test_a_fast_writer_loses_nothing_while_another_shim_is_killed(daemon: Daemon, client) -> None:
    chunks, per_chunk = 10, 20000
    writer = client.containers.run(
        "busybox",
        ["sh", "-c", f"for i in $(seq 0 {chunks - 1}); do "
                     f"seq $((i*{per_chunk}+1)) $((i*{per_chunk}+{per_chunk})); sleep 0.1; done"],
        detach=True, log_config={"Type": "json-file", "Config": {"max-size": "100m"}},
    )  # fmt: skip
    other = run_fleet(client, daemon, count=1, prefix="other")[0]
    wait_until(lambda: writer.logs(tail=1).strip() != b"", "the writer writing")
    os.kill(other.shim_pid(), signal.SIGKILL)
    assert client.api.inspect_container(writer.id)["State"]["Running"], "killed too late"
    assert client.api.wait(writer.id, timeout=60)["StatusCode"] == 0
    lines = client.api.logs(writer.id).split(b"\n")
    assert lines[-1] == b""
    assert lines[:-1] == [str(n).encode() for n in range(1, chunks * per_chunk + 1)]
    wait_until(lambda: not client.api.inspect_container(other.id)["State"]["Running"],
               "the other container ended")  # fmt: skip

