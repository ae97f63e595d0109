"""What the daemon asks of a shim for a `docker exec`, and the plain record classes of spec.py.

Apart from spec.py (which imports this) and importing nothing, so that a light process can
use an ExecSpec without spec.py's pathlib, typing and json.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing (with re) would be ~10 ms of every exec's start-up
if TYPE_CHECKING:
    from typing import Any


class Record:
    """Equality, repr and a dict of the fields named in `_fields`, as a dataclass gives."""

    _fields: tuple[str, ...] = ()

    def _values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._values().items())
        return f"{type(self).__name__}({fields})"


class ExecSpec(Record):
    _fields = ("id", "args", "env", "user", "cwd", "tty", "stdin", "privileged")

    def __init__(
        self,
        id: str,
        args: list[str],
        # The whole environment of the process; empty: the container's own.
        env: list[str] | None = None,
        # Docker's --user forms ("", "name", "uid:gid"); empty: the container's user.
        user: str = "",
        cwd: str = "",
        tty: bool = False,
        stdin: bool = False,
        privileged: bool = False,
    ) -> None:
        self.id = id
        self.args = args
        self.env = env if env is not None else []
        self.user = user
        self.cwd = cwd
        self.tty = tty
        self.stdin = stdin
        self.privileged = privileged

    def to_dict(self) -> dict[str, Any]:
        return self._values()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecSpec:
        return cls(**data)
