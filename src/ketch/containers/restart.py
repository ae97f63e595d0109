"""Docker's restart policies: validation, the decision after an exit, and the backoff."""

from __future__ import annotations

from typing import Any

from ketch.errors import InvalidArgument

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
