"""Human status strings as `docker ps` shows them: "Up 3 seconds", "Exited (0) 2 minutes ago"."""

from __future__ import annotations

import time
from typing import Any

from ketch.timestamps import parse_rfc3339
from ketch.units import human_duration


def status_text(state: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    if state.get("Running"):
        started = parse_rfc3339(state.get("StartedAt")) or now
        text = f"Up {human_duration(now - started)}"
        if state.get("Paused"):
            return text + " (Paused)"
        health = (state.get("Health") or {}).get("Status")
        if health == "starting":
            return text + " (health: starting)"
        if health in ("healthy", "unhealthy"):
            return f"{text} ({health})"
        return text
    if state.get("Restarting"):
        finished = parse_rfc3339(state.get("FinishedAt")) or now
        return f"Restarting ({state.get('ExitCode', 0)}) {human_duration(now - finished)} ago"
    if state.get("RemovalInProgress"):
        return "Removal In Progress"
    if state.get("Dead"):
        return "Dead"
    exited_at = parse_rfc3339(state.get("FinishedAt"))
    if exited_at is None:
        return "Created"
    return f"Exited ({state.get('ExitCode', 0)}) {human_duration(now - exited_at)} ago"
