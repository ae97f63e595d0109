"""The state one stage's steps change: the config its image will have, the image so far,
the ARGs in scope (moby's dispatchState), and Docker's form of a container Config."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ketch.build.args import BuildArgs
from ketch.build.messages import Emit
from ketch.images.model import Image

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# container.Config's JSON as Docker writes it into an image: these keys always, in this
# order (null when unset); the `omitempty` ones only when set.
CONFIG_KEYS = (
    ("Hostname", ""), ("Domainname", ""), ("User", ""), ("AttachStdin", False),
    ("AttachStdout", False), ("AttachStderr", False), ("ExposedPorts", "omit"),
    ("Tty", False), ("OpenStdin", False), ("StdinOnce", False), ("Env", None),
    ("Cmd", None), ("Healthcheck", "omit"), ("ArgsEscaped", "omit"), ("Image", ""),
    ("Volumes", None), ("WorkingDir", ""), ("Entrypoint", None), ("NetworkDisabled", "omit"),
    ("MacAddress", "omit"), ("OnBuild", None), ("Labels", None), ("StopSignal", "omit"),
    ("StopTimeout", "omit"), ("Shell", "omit"),
)  # fmt: skip


def docker_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with Docker's keys and nothing else, as the legacy builder commits it."""
    out: dict[str, Any] = {}
    for key, default in CONFIG_KEYS:
        value = config.get(key)
        if default == "omit":
            if value:
                out[key] = value
        else:
            out[key] = default if value is None else value
    return out


@dataclass
class StageState:
    args: BuildArgs
    name: str | None = None
    image: Image | None = None  # the image after the last step; None: scratch, nothing yet
    run_config: dict[str, Any] = field(default_factory=dict)
    maintainer: str = ""
    cmd_set: bool = False
    os: str = "linux"
    index: int = 0  # the stage's place in the Dockerfile: a --from sees only earlier ones
    emit: Emit = field(default=lambda message: None, repr=False)  # where its messages go

    @property
    def image_id(self) -> str:
        return self.image.id if self.image is not None else ""

    def begin(self, name: str | None, image: Image | None) -> None:
        """FROM: the base's config, PATH defaulted, stdin settings dropped (moby's
        beginStage)."""
        self.name = name
        self.image = image
        base = image.container_config if image is not None else {}
        self.run_config = copy.deepcopy(base)
        env = list(self.run_config.get("Env") or [])
        if not any(entry.partition("=")[0] == "PATH" for entry in env):
            env.append(f"PATH={DEFAULT_PATH}")
        self.run_config["Env"] = env
        self.run_config["OpenStdin"] = False
        self.run_config["StdinOnce"] = False
        if image is not None:
            self.os = str(image.config.get("os") or "linux")

    @property
    def shell(self) -> list[str]:
        return list(self.run_config.get("Shell") or DEFAULT_SHELL)

    def expansion_env(self) -> dict[str, str]:
        """What `$NAME` sees at this step: ENV first, then ARG values ENV does not hide."""
        env = list(self.run_config.get("Env") or [])
        found = dict(self.args.not_in_env(env))
        for entry in env:
            key, _, value = entry.partition("=")
            found[key] = value
        return found

    def committed_config(self) -> dict[str, Any]:
        """The config an image of this step gets; `Image` names the step's parent, as the
        legacy builder's updateRunConfig leaves it."""
        config = copy.deepcopy(self.run_config)
        config["Image"] = self.image_id
        return docker_config(config)
