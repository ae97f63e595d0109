"""HEALTHCHECK: probes run in the container as execs, State.Health kept as dockerd keeps it.

One asyncio task per running container that has a check; no threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ketch.containers import names
from ketch.containers.attach import AttachSession
from ketch.containers.contracts import ExecProcess
from ketch.containers.record import Container
from ketch.timestamps import rfc3339_nano

log = logging.getLogger("ketch.containers.health")

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096


def probe_command(healthcheck: dict[str, Any] | None) -> list[str] | None:
    """The command to run, or None when there is no check (absent, empty or NONE)."""
    test = (healthcheck or {}).get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:]) or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return list(test)  # an old-style bare command


def fresh_health() -> dict[str, Any]:
    return {"Status": "starting", "FailingStreak": 0, "Log": []}


class HealthMonitor:
    """Runs the probe every Interval and records each result in container.state["Health"]."""

    def __init__(
        self,
        container: Container,
        run_exec: Callable[[Container, str, dict[str, Any]], Awaitable[ExecProcess]],
        on_change: Callable[[Container, str], None],
    ) -> None:
        self.container = container
        self.run_exec = run_exec
        self.on_change = on_change
        check = container.config.get("Healthcheck") or {}
        self.command = probe_command(check)
        self.interval = (check.get("Interval") or DEFAULT_INTERVAL) / SECOND
        self.timeout = (check.get("Timeout") or DEFAULT_TIMEOUT) / SECOND
        self.start_period = (check.get("StartPeriod") or 0) / SECOND
        self.start_interval = (check.get("StartInterval") or DEFAULT_START_INTERVAL) / SECOND
        self.retries = check.get("Retries") or DEFAULT_RETRIES
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.command is None:
            return
        self.container.state.setdefault("Health", fresh_health())
        self.task = asyncio.create_task(self._loop())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            in_start_period = loop.time() - started < self.start_period
            health = self.container.state.get("Health") or fresh_health()
            starting = in_start_period and health["Status"] == "starting"
            await asyncio.sleep(self.start_interval if starting else self.interval)
            in_start_period = loop.time() - started < self.start_period
            try:
                result = await self.probe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the container went away under the probe
                log.debug("health probe of %s failed: %s", self.container.short_id, exc)
                return
            self.record(result, in_start_period)

    async def probe(self) -> dict[str, Any]:
        begun = rfc3339_nano()
        config = {"Cmd": self.command, "Env": list(self.container.config.get("Env") or []),
                  "User": self.container.config.get("User") or "", "WorkingDir": "",
                  "Tty": False, "AttachStdin": False, "AttachStdout": True,
                  "AttachStderr": True, "Privileged": False}  # fmt: skip
        process = await self.run_exec(self.container, names.new_id(), config)
        session = AttachSession(stdin=False, stdout=True, stderr=True)
        output = b""

        async def collect() -> int:
            nonlocal output
            if process.streams is not None:
                await session.connect(*process.streams)
                while (item := await session.next_output()) is not None:
                    output = (output + item[1])[-MAX_OUTPUT:]
            return await process.wait()

        try:
            code = await asyncio.wait_for(collect(), self.timeout)
            text = output.decode(errors="replace")
        except TimeoutError:
            with contextlib.suppress(Exception):
                # The probe overran: kill it, as dockerd does.
                await process.kill(9)
            code = -1
            text = f"Health check exceeded timeout ({self.timeout:g}s)"
        finally:
            session.close()
        return {"Start": begun, "End": rfc3339_nano(), "ExitCode": code, "Output": text}

    def record(self, result: dict[str, Any], in_start_period: bool) -> None:
        health = self.container.state.setdefault("Health", fresh_health())
        before = health["Status"]
        health["Log"] = (health["Log"] + [result])[-MAX_LOG_ENTRIES:]
        if result["ExitCode"] == 0:
            health["Status"] = "healthy"
            health["FailingStreak"] = 0
        elif not (in_start_period and before == "starting"):
            # Failures in the start period do not count until the first success.
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= self.retries:
                health["Status"] = "unhealthy"
        self.container.save()
        if health["Status"] != before:
            self.on_change(self.container, health["Status"])
