"""Human status strings as `docker ps` shows them: "Up 3 seconds", "Exited (0) 2 minutes ago"."""

from __future__ import annotations

import time
from typing import Any

from ketch.containers.record import parse_time


def human_duration(seconds: float) -> str:
    """Docker's go-units HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def status_text(state: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    if state.get("Running"):
        started = parse_time(state.get("StartedAt")) or now
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
        finished = parse_time(state.get("FinishedAt")) or now
        return f"Restarting ({state.get('ExitCode', 0)}) {human_duration(now - finished)} ago"
    if state.get("RemovalInProgress"):
        return "Removal In Progress"
    if state.get("Dead"):
        return "Dead"
    finished = parse_time(state.get("FinishedAt"))
    if finished is None:
        return "Created"
    return f"Exited ({state.get('ExitCode', 0)}) {human_duration(now - finished)} ago"
