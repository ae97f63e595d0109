"""Docker's rules for combining an image's config with a create request (pure)."""

from __future__ import annotations

import copy
from typing import Any

from ketch.errors import InvalidArgument

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def merge_env(image_env: list[str] | None, request_env: list[str] | None) -> list[str]:
    """Image env then request env, the request winning per key; PATH always set.

    A bare `NAME` (`-e NAME` with NAME unset on the client's side) stays, as Docker
    keeps it in Config.Env, in place of the image's NAME=...; `process_env` unsets it."""
    merged: dict[str, str] = {}
    for entry in (image_env or []) + (request_env or []):
        key = entry.partition("=")[0]
        if not key:
            raise InvalidArgument(f"invalid environment variable: {entry}")
        merged[key] = entry
    if "PATH" not in merged:
        merged = {"PATH": f"PATH={DEFAULT_PATH}", **merged}
    return list(merged.values())


def process_env(config: dict[str, Any]) -> list[str]:
    """The environment the container's process starts with: the Config's Env, and
    TERM=xterm for a tty unless Env sets TERM (dockerd's CreateDaemonEnvironment).

    The daemon's defaults come first and Env replaces or follows them; Config.Env
    itself stays as created, so `inspect` shows no TERM, as on Docker. A bare `NAME`
    in Env unsets NAME (moby's ReplaceOrAppendEnvValues)."""
    merged = {"TERM": "TERM=xterm"} if config.get("Tty") else {}
    for entry in config.get("Env") or []:
        key, sep, _ = entry.partition("=")
        if sep:
            merged[key] = entry  # in the default's place, or after them
        else:
            merged.pop(key, None)
    return list(merged.values())


def merge_config(image_config: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The container's Config: the request's fields, filled in from the image's."""
    config = copy.deepcopy(request)
    image = image_config or {}
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    if isinstance(cmd, str):
        cmd = [cmd]
    if entrypoint is not None:
        # An explicit entrypoint resets the image's Cmd; [""] means "none at all".
        if entrypoint == [""]:
            entrypoint = None
    else:
        entrypoint = image.get("Entrypoint")
        if not cmd:
            cmd = image.get("Cmd")
    config["Entrypoint"] = list(entrypoint) if entrypoint else None
    config["Cmd"] = list(cmd) if cmd else None
    config["Env"] = merge_env(image.get("Env"), config.get("Env"))
    config["WorkingDir"] = config.get("WorkingDir") or image.get("WorkingDir") or ""
    config["User"] = config.get("User") or image.get("User") or ""
    labels = dict(image.get("Labels") or {})
    labels.update(config.get("Labels") or {})
    config["Labels"] = labels
    if not config.get("StopSignal") and image.get("StopSignal"):
        config["StopSignal"] = image["StopSignal"]
    for key in ("ExposedPorts", "Volumes"):
        combined = dict(image.get(key) or {})
        combined.update(config.get(key) or {})
        config[key] = combined or None
    healthcheck = merge_healthcheck(image.get("Healthcheck"), config.get("Healthcheck"))
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    if config.get("OnBuild") is None:
        config["OnBuild"] = image.get("OnBuild")
    for key, default in (
        ("Tty", False), ("OpenStdin", False), ("StdinOnce", False), ("AttachStdin", False),
        ("AttachStdout", False), ("AttachStderr", False), ("Domainname", ""),
    ):  # fmt: skip
        config[key] = config.get(key) or default
    return config


def merge_healthcheck(
    image: dict[str, Any] | None, asked: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The container's Healthcheck as dockerd keeps it: each field not given (null or zero)
    taken from the image's, and fields still zero left out (Go's omitempty)."""
    if asked is None:
        return dict(image) if image else None
    merged = {k: v for k, v in (image or {}).items() if v}
    merged.update({k: v for k, v in asked.items() if v})
    return merged


def command_of(config: dict[str, Any]) -> tuple[str, list[str]]:
    """Path and Args as Docker stores them: the first word, then the rest."""
    words = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    if not words:
        raise InvalidArgument("No command specified")
    return words[0], words[1:]


def parse_signal(text: str | int | None, default: int = 15) -> int:
    """ "SIGTERM", "TERM", "15" -> 15, as docker's --stop-signal and kill accept."""
    import signal

    if text is None or text == "":
        return default
    if isinstance(text, int) or str(text).isdigit():
        number = int(text)
        if number <= 0 or number > 64:
            raise InvalidArgument(f"Invalid signal: {text}")
        return number
    name = str(text).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {text}") from None


def console_size(value: Any) -> tuple[int, int] | None:
    """HostConfig/exec ConsoleSize [height, width]; None when unset or zero."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    return None
