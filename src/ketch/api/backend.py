"""What the API handlers see of the daemon: its config and its services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ketch.config import DaemonConfig
from ketch.errors import NotImplementedYet


@dataclass
class Backend:
    config: DaemonConfig
    daemon_id: str
    images: Any = None  # ketch.images.ImageService, once wired
    containers: Any = None  # ketch.containers.ContainerService
    closers: list[Any] = field(default_factory=list)

    def image_service(self) -> Any:
        if self.images is None:
            raise NotImplementedYet("images are not available in this build of ketchd")
        return self.images

    def container_service(self) -> Any:
        if self.containers is None:
            raise NotImplementedYet("containers are not available in this build of ketchd")
        return self.containers

    async def close(self) -> None:
        for close in reversed(self.closers):
            result = close()
            if hasattr(result, "__await__"):
                await result
