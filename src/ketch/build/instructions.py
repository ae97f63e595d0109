"""A parsed Dockerfile: stages of typed instructions, as the parser gives them to the
executor.

Words are kept as written (unexpanded): `$VAR` and `${VAR:-x}` are replaced at execution
time, with the ARG and ENV values in force at that step (build/substitution.py), as
Docker's dispatcher does. `original` is the instruction's text as written, continuation
lines joined, for "Step 2/7 : RUN make" and the image history's `created_by`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    file: str  # the Dockerfile's name as the user gave it ("Dockerfile", "other.Dockerfile")
    line: int  # 1-based, where the instruction starts
    end_line: int


@dataclass(frozen=True)
class Heredoc:
    """`<<EOF` (expand=True) or `<<'EOF'` / `<<"EOF"` (expand=False); `<<-` strips tabs
    (chomp=True: `content` has its lines' leading tabs already removed)."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False


@dataclass(frozen=True)
class Command:
    """CMD/ENTRYPOINT/RUN/HEALTHCHECK's command: exec form (a JSON array) or shell form
    (one string, run by the stage's SHELL)."""

    args: tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True, kw_only=True)
class Instruction:
    keyword: str  # upper case: "RUN", "COPY", ...
    original: str
    location: Location


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    image: str  # "scratch", "busybox:1.36", or an earlier stage's name
    name: str | None = None  # AS name, lower-cased as Docker does
    platform: str | None = None


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    command: Command
    mounts: tuple[str, ...] = ()  # each --mount=... value, unparsed ("type=cache,target=/x")
    network: str | None = None
    security: str | None = None
    devices: tuple[str, ...] = ()  # each --device=... value, unparsed
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Cmd(Instruction):
    command: Command


@dataclass(frozen=True, kw_only=True)
class Entrypoint(Instruction):
    command: Command


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    args: tuple[str, ...]  # always exec form


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...]  # `ENV a=1 b=2`, or the legacy `ENV a 1 2`


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    name: str
    default: str | None = None  # None: `ARG NAME` without a default
    # Every name of the line in order, the first being name/default: `ARG A=1 B` is one
    # instruction (one step) declaring two.
    pairs: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    ports: tuple[str, ...]  # as written: "80", "53/udp", "8000-8010"


@dataclass(frozen=True, kw_only=True)
class Copy(Instruction):
    """COPY, and ADD (keyword "ADD"; `add` true: URLs fetched, local tars unpacked)."""

    sources: tuple[str, ...]  # paths; `COPY <<EOF /x`'s heredoc sources are in heredocs
    dest: str
    add: bool = False
    from_: str | None = None  # --from=stage|image|index
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    checksum: str | None = None  # ADD --checksum=sha256:...
    keep_git_dir: bool = False
    unpack: bool | None = None  # ADD --unpack[=false]; None: not given (unpack local tars)
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    expression: str  # the trigger as written ("RUN make"); stored in the image's OnBuild


@dataclass(frozen=True, kw_only=True)
class Stopsignal(Instruction):
    signal: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """HEALTHCHECK NONE is `test == ("NONE",)`; durations are Go duration strings as
    written (None: not given)."""

    test: tuple[str, ...]  # Docker's form: ("CMD", ...), ("CMD-SHELL", "..."), ("NONE",)
    interval: str | None = None
    timeout: str | None = None
    start_period: str | None = None
    start_interval: str | None = None
    retries: int | None = None


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    name: str


@dataclass(frozen=True)
class Stage:
    index: int
    base: From
    instructions: tuple[Instruction, ...] = ()

    @property
    def name(self) -> str | None:
        return self.base.name


@dataclass(frozen=True)
class Dockerfile:
    """Meta ARGs (before the first FROM, usable in FROM lines) and the stages in order."""

    meta_args: tuple[Arg, ...] = ()
    stages: tuple[Stage, ...] = ()
    escape: str = "\\"
    syntax: str | None = None  # `# syntax=` accepted and kept, not acted on
    warnings: tuple[str, ...] = field(default=())
