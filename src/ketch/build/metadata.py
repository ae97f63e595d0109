"""The instructions that change only the image's config (pure): ENV, LABEL, CMD, ENTRYPOINT,
EXPOSE, USER, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER, ARG.

Each changes the stage's state and returns the comment the legacy builder commits it
with: the history's `created_by` is the shell, "#(nop) ", then this comment
("/bin/sh -c #(nop)  ENV a=b").
"""

from __future__ import annotations

from typing import Any

from ketch import errors
from ketch.build import gofmt, instructions
from ketch.build.contracts import Expand, ExpandWords
from ketch.build.state import StageState
from ketch.containers.merge import parse_signal
from ketch.timestamps import parse_go_duration

METADATA = (
    instructions.Env, instructions.Label, instructions.Cmd, instructions.Entrypoint,
    instructions.Expose, instructions.User, instructions.Volume, instructions.Stopsignal,
    instructions.Healthcheck, instructions.Shell, instructions.Onbuild,
    instructions.Maintainer, instructions.Arg,
)  # fmt: skip


def nop_comment(shell: list[str], comment: str) -> list[str]:
    """ContainerConfig.Cmd of a metadata step (moby's withCmdComment)."""
    return [*shell, "#(nop) ", comment]


def nop_comment_string(shell: list[str], comment: str) -> list[str]:
    """WORKDIR, COPY and ADD's one-argument form (withCmdCommentString)."""
    return [*shell, "#(nop) " + comment]


def command_line(command: instructions.Command, shell: list[str]) -> list[str]:
    """RUN/CMD/ENTRYPOINT's argv: exec form as written, shell form through SHELL."""
    if command.shell_form:
        return [*shell, " ".join(command.args)]
    return list(command.args)


class ConfigChanges:
    def __init__(self, expand: Expand, expand_words: ExpandWords, escape: str = "\\") -> None:
        self._expand = expand
        self._expand_words = expand_words
        self.escape = escape

    def word(self, state: StageState, text: str) -> str:
        return self._expand(text, state.expansion_env(), escape=self.escape)

    def apply(self, step: instructions.Instruction, state: StageState) -> str:
        """Change `state` for `step`; returns the commit comment."""
        config = state.run_config
        if isinstance(step, instructions.Env):
            return "ENV " + " ".join(self._env(state, step.pairs))
        if isinstance(step, instructions.Label):
            labels: dict[str, str] = dict(config.get("Labels") or {})
            written = []
            for key, value in step.pairs:
                key, value = self.word(state, key), self.word(state, value)
                labels[key] = value
                written.append(f"{key}={value}")
            config["Labels"] = labels
            return "LABEL " + " ".join(written)
        if isinstance(step, instructions.Cmd):
            config["Cmd"] = command_line(step.command, state.shell)
            if step.command.args:
                state.cmd_set = True
            return f"CMD {gofmt.quoted_list(config['Cmd'])}"
        if isinstance(step, instructions.Entrypoint):
            config["Entrypoint"] = command_line(step.command, state.shell)
            if not state.cmd_set:
                config["Cmd"] = None  # as Docker: a later ENTRYPOINT resets the base's CMD
            return f"ENTRYPOINT {gofmt.quoted_list(config['Entrypoint'])}"
        if isinstance(step, instructions.Expose):
            ports = [
                port
                for written in step.ports
                for port in self._expand_words(written, state.expansion_env(), escape=self.escape)
            ]
            exposed = dict(config.get("ExposedPorts") or {})
            for port in ports:
                for key in port_keys(port):
                    exposed[key] = {}
            config["ExposedPorts"] = exposed
            return "EXPOSE " + " ".join(ports)
        if isinstance(step, instructions.User):
            config["User"] = self.word(state, step.user)
            return f"USER {config['User']}"
        if isinstance(step, instructions.Volume):
            volumes = dict(config.get("Volumes") or {})
            paths = [self.word(state, path) for path in step.paths]
            for path in paths:
                if not path:
                    raise errors.InvalidArgument("VOLUME specified can not be an empty string")
                volumes[path] = {}
            config["Volumes"] = volumes
            return f"VOLUME {gofmt.plain_list(paths)}"
        if isinstance(step, instructions.Stopsignal):
            signal = self.word(state, step.signal)
            parse_signal(signal)
            config["StopSignal"] = signal
            return f"STOPSIGNAL {signal}"
        if isinstance(step, instructions.Healthcheck):
            config["Healthcheck"] = healthcheck_config(step)
            return f"HEALTHCHECK {gofmt.healthcheck(config['Healthcheck'])}"
        if isinstance(step, instructions.Shell):
            config["Shell"] = list(step.args)
            return f"SHELL {gofmt.plain_list(config['Shell'])}"
        if isinstance(step, instructions.Onbuild):
            config["OnBuild"] = [*(config.get("OnBuild") or []), step.expression]
            return "ONBUILD " + step.expression
        if isinstance(step, instructions.Maintainer):
            state.maintainer = step.name
            return "MAINTAINER " + step.name
        if isinstance(step, instructions.Arg):
            # `ARG A=1 B` is one step declaring both, as dockerd's dispatchArg.
            shown: list[str] = []
            for arg_name, given in step.pairs or ((step.name, step.default),):
                arg_value = None if given is None else self.word(state, given)
                state.args.add(arg_name, arg_value)
                shown.append(arg_name if arg_value is None else f"{arg_name}={arg_value}")
            return "ARG " + " ".join(shown)
        raise errors.Internal(f"{step.keyword} changes more than the config")

    def _env(self, state: StageState, pairs: tuple[tuple[str, str], ...]) -> list[str]:
        written = []
        for key, value in pairs:
            key, value = self.word(state, key), self.word(state, value)
            entry = f"{key}={value}"
            env = list(state.run_config.get("Env") or [])
            for index, existing in enumerate(env):
                if existing.partition("=")[0] == key:
                    env[index] = entry
                    break
            else:
                env.append(entry)
            state.run_config["Env"] = env
            written.append(entry)
        return written


def port_keys(port: str) -> list[str]:
    """"80" -> ["80/tcp"]; "53/udp"; "8000-8002" -> each port (go-connections' rules)."""
    number, _, proto = port.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise errors.InvalidArgument(f"invalid proto: {proto}")
    number = number.rpartition(":")[2]  # ip:host:container: the container's port
    low, dash, high = number.partition("-")
    try:
        first, last = int(low), int(high) if dash else int(low)
    except ValueError:
        raise errors.InvalidArgument(f"invalid containerPort: {number}") from None
    if not 0 <= first <= last <= 65535:
        raise errors.InvalidArgument(f"invalid containerPort: {number}")
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def healthcheck_config(step: instructions.Healthcheck) -> dict[str, Any]:
    """Docker's HealthConfig: durations in nanoseconds, zeros left out."""
    check: dict[str, Any] = {"Test": list(step.test)}
    for key, text in (
        ("Interval", step.interval), ("Timeout", step.timeout),
        ("StartPeriod", step.start_period), ("StartInterval", step.start_interval),
    ):  # fmt: skip
        if text:
            nanoseconds = round(parse_go_duration(text) * 1e9)
            if nanoseconds:
                check[key] = nanoseconds
    if step.retries:
        check["Retries"] = step.retries
    return check
