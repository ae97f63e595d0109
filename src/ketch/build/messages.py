"""The JSON messages of Docker's legacy builder, worded as dockerd writes them
(moby's builder/dockerfile and builder/backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Message = dict[str, Any]


def short(image_or_container_id: str) -> str:
    return image_or_container_id.split(":", 1)[-1][:12]


def stream(text: str) -> Message:
    return {"stream": text}


def stderr(text: str) -> Message:
    """A RUN's standard error: dockerd's stderr writer paints it red."""
    return {"stream": "\033[91m" + text + "\033[0m"}


def step(number: int, total: int, original: str) -> Message:
    return stream(f"Step {number}/{total} : {original}\n")


def image(image_id: str) -> Message:
    return stream(f" ---> {short(image_id)}\n")


def running_in(container_id: str) -> Message:
    return stream(f" ---> Running in {short(container_id)}\n")


def warning(text: str) -> Message:
    return stream(f" ---> [Warning] {text}\n")


USING_CACHE = stream(" ---> Using cache\n")


def removed(container_id: str) -> Message:
    """dockerd 25 and later (before: "Removing intermediate container <id>")."""
    return stream(f" ---> Removed intermediate container {short(container_id)}\n")


def triggers(count: int) -> Message:
    return stream(f"# Executing {count} build trigger{'s' if count > 1 else ''}\n")


def aux(image_id: str) -> Message:
    return {"aux": {"ID": image_id}}


def built(image_id: str) -> Message:
    return stream(f"Successfully built {short(image_id)}\n")


def tagged(familiar: str) -> Message:
    return stream(f"Successfully tagged {familiar}\n")


def error(message: str, code: int | None = None) -> Message:
    detail: dict[str, Any] = {"message": message}
    if code is not None:
        detail["code"] = code
    return {"errorDetail": detail, "error": message}


Emit = Callable[[Message], None]
