"""Docker's restart policies: validation, the decision after an exit, and the backoff."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ketch.containers.entry import Entry
from ketch.errors import InvalidArgument
from ketch.timestamps import parse_rfc3339

POLICIES = ("", "no", "always", "unless-stopped", "on-failure")
# dockerd's backoff: 100 ms doubling per restart, reset once a run lasted 10 s.
BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
RESET_AFTER = 10.0


def validate(host_config: dict[str, Any]) -> None:
    policy = host_config.get("RestartPolicy") or {}
    name = policy.get("Name") or ""
    retries = policy.get("MaximumRetryCount") or 0
    if name not in POLICIES:
        raise InvalidArgument(f"invalid restart policy: unknown policy '{name}'; use one of "
                              "'no', 'always', 'on-failure', or 'unless-stopped'")  # fmt: skip
    if retries < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count must be a positive "
                              "integer")  # fmt: skip
    if retries and name != "on-failure":
        raise InvalidArgument(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if name not in ("", "no") and host_config.get("AutoRemove"):
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")


def should_restart(
    host_config: dict[str, Any], exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    policy = host_config.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    if manually_stopped or name == "no":
        return False
    if name in ("always", "unless-stopped"):
        return True
    retries = policy.get("MaximumRetryCount") or 0
    return exit_code != 0 and (retries == 0 or restart_count < retries)


def next_delay(previous: float, ran_for: float) -> float:
    if ran_for >= RESET_AFTER or previous <= 0:
        return BACKOFF_START
    return min(previous * 2, BACKOFF_MAX)


class RestartScheduler:
    """Restarts after dockerd's backoff: a timer per waiting container, kept in its record,
    not a task sleeping per container."""

    def __init__(self, restart: Callable[[Entry], Awaitable[None]]) -> None:
        self._restart = restart

    def schedule(self, entry: Entry) -> None:
        container = entry.container
        started = parse_rfc3339(container.state.get("StartedAt")) or 0.0
        finished = parse_rfc3339(container.state.get("FinishedAt")) or time.time()
        entry.restart_delay = next_delay(entry.restart_delay, finished - started)
        container.state.update(Restarting=True, Status="restarting")
        container.save()
        loop = asyncio.get_running_loop()
        entry.cancel_restart_timer()
        entry.restart_timer = loop.call_later(entry.restart_delay, self._fire, entry)

    def _fire(self, entry: Entry) -> None:
        entry.restart_timer = None
        task = asyncio.ensure_future(self._restart(entry))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def cancel(self, entry: Entry) -> None:
        """No restart after all (a start, a stop or a removal by the user)."""
        entry.cancel_restart_timer()
        if entry.container.state.get("Restarting"):
            entry.container.state.update(Restarting=False, Status="exited")
            entry.container.save()
