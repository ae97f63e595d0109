"""`commit --change` and `import --change`: Dockerfile instructions applied to an image's
config, as dockerd's dockerfile.BuildFromConfig (only instructions that change the
config; `$VAR` expands against the config's own Env)."""

from __future__ import annotations

import copy
import posixpath
from typing import Any

from ketch import errors

# moby's validCommitCommands.
CHANGE_COMMANDS = {
    "CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "STOPSIGNAL",
    "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """A copy of the container `config` with each instruction of `changes` applied."""
    from ketch.build import instructions, parser, substitution
    from ketch.build.args import BuildArgs
    from ketch.build.metadata import ConfigChanges
    from ketch.build.state import StageState

    state = StageState(args=BuildArgs({}), run_config=copy.deepcopy(config))
    apply = ConfigChanges(substitution.expand, substitution.expand_words)
    for change in changes:
        if not change.strip():
            continue
        try:
            step = parser.parse_trigger(change)
        except errors.InvalidArgument as exc:
            message = f"dockerfile parse error on line 1: {exc.message}"
            raise errors.InvalidArgument(message) from None
        if step.keyword.upper() not in CHANGE_COMMANDS:
            raise errors.InvalidArgument(f"{step.keyword.lower()} is not a valid change command")
        if isinstance(step, instructions.Workdir):
            path = apply.word(state, step.path)
            current = str(state.run_config.get("WorkingDir") or "/")
            state.run_config["WorkingDir"] = posixpath.normpath(posixpath.join("/", current, path))
            continue
        apply.apply(step, state)
    return state.run_config
