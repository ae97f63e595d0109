"""Everything the daemon keeps for one container while it knows it, in one record.

`Container` is what is on disk (config.v2.json); an `Entry` wraps it with what
lives only in the daemon: the lock, the shim's handle, the watcher, waiters,
attaches and a size waiting for the start, the health monitor, the restart
timer, and the container's execs. `release()` lets all of it go at once, so a
removed container leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from ketch.containers.attach import AttachSession
from ketch.containers.contracts import ExecProcess, Shim
from ketch.containers.health import HealthMonitor
from ketch.containers.record import Container
from ketch.network.model import Endpoint

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


@dataclass(eq=False)
class ExecRecord:
    """A `docker exec` process, from create to its exit."""

    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    process: ExecProcess | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    # A size asked for before the process exists (ConsoleSize, an early resize).
    pending_size: tuple[int, int] | None = None


@dataclass(eq=False)
class Entry:
    container: Container
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    shim: Shim | None = None
    watcher: asyncio.Task[None] | None = None
    waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = field(default_factory=list)
    # The docker CLI attaches and resizes before it starts: kept for the start.
    pending_attaches: list[AttachSession] = field(default_factory=list)
    pending_size: tuple[int, int] | None = None
    health: HealthMonitor | None = None
    restart_timer: asyncio.TimerHandle | None = None
    restart_delay: float = 0.0
    execs: dict[str, ExecRecord] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)  # this run's, primary first

    @property
    def id(self) -> str:
        return self.container.id

    def wait_body(self) -> dict[str, Any]:
        # A start that failed was already reported by the start request itself; the CLI
        # would print it a second time as "Error waiting for container". No error: no
        # "Error" key at all, as dockerd's omitempty leaves it out.
        return {"StatusCode": self.container.state["ExitCode"]}

    def wait_for(self, condition: str) -> asyncio.Future[dict[str, Any]]:
        """A future that resolves when the condition is met; registered at once."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not self.container.running:
            future.set_result(self.wait_body())
        else:
            self.waiters.append((condition, future))
        return future

    def wake(self, conditions: tuple[str, ...]) -> None:
        body = self.wait_body()
        remaining = []
        for condition, future in self.waiters:
            if condition in conditions:
                if not future.done():
                    future.set_result(body)
            else:
                remaining.append((condition, future))
        self.waiters = remaining

    def stop_health(self) -> None:
        if self.health is not None:
            self.health.stop()
            self.health = None

    def cancel_restart_timer(self) -> None:
        if self.restart_timer is not None:
            self.restart_timer.cancel()
            self.restart_timer = None

    def end_pending_attaches(self) -> None:
        for session in self.pending_attaches:
            session.end()
        self.pending_attaches.clear()

    def forget_finished_execs(self) -> None:
        """At a new run: the last run's finished execs can no longer be inspected."""
        self.execs = {k: r for k, r in self.execs.items() if r.exit_code is None}

    def drop_execs(self) -> None:
        for record in self.execs.values():
            if record.task is not None and not record.task.done():
                record.task.cancel()
            record.done.set()
        self.execs.clear()

    async def let_go_of_shim(self) -> None:
        shim, self.shim = self.shim, None
        if shim is not None:
            await shim.close()

    async def end_shim(self) -> None:
        """After the init's exit is known: the shim is told to go (else it lingers for a
        while, in case a restarted daemon still wants to ask it)."""
        shim, self.shim = self.shim, None
        if shim is not None:
            await shim.shutdown()

    async def release(self) -> None:
        """The container is gone: let go of everything kept for it."""
        self.stop_health()
        self.cancel_restart_timer()
        if self.watcher is not None and self.watcher is not asyncio.current_task():
            self.watcher.cancel()
        self.watcher = None
        self.end_pending_attaches()
        self.pending_size = None
        # "removed" is woken by the removal once it is over and its destroy event out, as
        # dockerd: `docker run --rm` returns only then.
        self.wake(tuple(c for c in WAIT_CONDITIONS if c != "removed"))
        self.drop_execs()
        with contextlib.suppress(Exception):
            await self.let_go_of_shim()
