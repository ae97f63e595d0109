"""Build arguments as Docker scopes them (moby's builder/dockerfile/buildargs.go).

An ARG before the first FROM is a meta ARG: usable in FROM lines, and inside a stage only
once the stage declares `ARG NAME` again. `--build-arg` values override defaults. The
proxy variables are usable without an ARG, and stay out of the image's history unless
the Dockerfile declares them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROXY_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})  # fmt: skip


@dataclass
class BuildArgs:
    from_options: dict[str, str | None]
    allowed: dict[str, str | None] = field(default_factory=dict)  # declared in this stage
    meta: dict[str, str | None] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)

    def for_stage(self) -> BuildArgs:
        """A stage starts with none of the meta ARGs in scope (they need `ARG NAME`)."""
        return BuildArgs(self.from_options, {}, dict(self.meta), set(self.referenced))

    def add_meta(self, name: str, default: str | None) -> None:
        self.add(name, default)
        self.meta[name] = default

    def add(self, name: str, default: str | None) -> None:
        self.allowed[name] = default
        self.referenced.add(name)

    def merge_referenced(self, other: BuildArgs) -> None:
        self.referenced |= other.referenced

    def value(self, name: str, scope: dict[str, str | None]) -> str | None:
        """A build-arg given for it wins; then the ARG's default; then, for `ARG NAME`
        without one, the meta ARG's value. None: not set."""
        given = self.from_options.get(name)
        if given is not None:
            return given
        default = scope.get(name)
        if default is None:
            return self.meta.get(name)
        return default

    def values(self, scope: dict[str, str | None]) -> dict[str, str]:
        found = {}
        for name in sorted(set(scope) | PROXY_ARGS):
            if name not in scope and name in PROXY_ARGS and name not in self.from_options:
                continue
            value = self.value(name, scope) if name in scope else self.from_options.get(name)
            if value is not None:
                found[name] = value
        return found

    def all_allowed(self) -> dict[str, str]:
        """The ARGs in scope with a value (and proxy args given as build-args)."""
        return self.values(self.allowed)

    def all_meta(self) -> dict[str, str]:
        return self.values(self.meta)

    def not_in_env(self, env: list[str]) -> dict[str, str]:
        """ARG values an ENV of the same name does not hide (ENV wins, as in Docker)."""
        names = {entry.partition("=")[0] for entry in env}
        return {k: v for k, v in self.all_allowed().items() if k not in names}

    def recorded(self, name: str) -> bool:
        """Whether a RUN's history names the arg: proxy args only when declared."""
        return name not in PROXY_ARGS or name in self.allowed

    def unused(self) -> list[str]:
        return sorted(
            name for name in self.from_options
            if name not in PROXY_ARGS and name not in self.referenced
        )  # fmt: skip


def unused_warning(names: list[str]) -> str:
    """moby's words, with Go's %v of a []string."""
    return f"[Warning] One or more build-args [{' '.join(names)}] were not consumed\n"
