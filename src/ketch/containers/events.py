"""The daemon's event stream (`GET /events`): Docker's message shape, a short history,
and one queue per listener."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from ketch.containers.record import Container

HISTORY = 1024


class EventBus:
    def __init__(self) -> None:
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(
        self, kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> None:
        now = time.time_ns()
        attributes = dict(attributes or {})
        event: dict[str, Any] = {
            "Type": kind,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": attributes},
            "scope": "local",
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
        # The old top-level fields, still read by older clients (docker-py): dockerd
        # fills them for containers and images (before API 1.52).
        if kind == "container":
            event.update(status=action, id=actor_id, **{"from": attributes.get("image", "")})
        elif kind == "image":
            event.update(status=action, id=actor_id)
        self.history.append(event)
        for queue in self.listeners:
            queue.put_nowait(event)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.listeners.discard(queue)

    @property
    def listener_count(self) -> int:
        """Streams open now (`docker info`'s NEventsListener)."""
        return len(self.listeners)


def publish_container(bus: EventBus, container: Container, action: str, **extra: str) -> None:
    """A container's event, with its labels, image and name as dockerd attributes them."""
    attributes = {
        **{str(k): str(v) for k, v in (container.config.get("Labels") or {}).items()},
        "image": container.image_name,
        "name": container.name.lstrip("/"),
        **extra,
    }
    bus.publish("container", action, container.id, attributes)


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Docker's event filters: type, event (action), container, image, label."""
    attributes = event["Actor"]["Attributes"]
    for key, values in filters.items():
        if not values:
            continue
        if key == "type" and event["Type"] not in values:
            return False
        if key == "event" and event["Action"].split(":")[0] not in values:
            return False
        if key == "container" and (
            event["Type"] != "container"
            or not any(
                event["Actor"]["ID"].startswith(v) or attributes.get("name") == v for v in values
            )
        ):
            return False
        if key == "image" and not any(
            attributes.get("image") == v or event["Actor"]["ID"] == v for v in values
        ):
            return False
        if key == "label":
            for wanted in values:
                k, sep, v = wanted.partition("=")
                if k not in attributes or (sep and attributes[k] != v):
                    return False
    return True
