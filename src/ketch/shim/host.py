"""What the request handlers (requests.py) use of the shim that runs them (server.py).

`Requests` is a mixin of `Shim`; typing its `self` as this protocol instead of
`Shim` keeps requests.py from importing server.py, which imports requests.py.
Only type checkers import this module.
"""

from __future__ import annotations

from typing import Any, Protocol

from ketch.runtime import cgroups
from ketch.shim.process import Process
from ketch.shim.spec import ShimSpec


class ShimHost(Protocol):
    spec: ShimSpec
    config: dict[str, Any]
    init: Process
    execs: dict[str, Process]
    by_pid: dict[int, Process]
    cgroup: cgroups.Cgroup | None
    seccomp_filter: bytes | None
    sync_w: int
    status_r: int
    start_error: str
    exiting: bool
    paused: bool
    shim_state_cache: dict[str, Any]

    def write_state(self) -> None: ...

    def _update_process_fd(self, proc: Process, fd: int) -> None: ...

    def _forget_fd(self, fd: int) -> None: ...

    # The mixin's own helpers, called through the same `self`.
    def _process(self, request: dict[str, Any]) -> Process: ...

    def _running(self) -> bool: ...
