"""A process's identity: its start time (field 22 of /proc/<pid>/stat), so a reused pid is caught.

Apart from runstate (ketch-runtime's state files) so the fork server, which
shims need this from, imports no more than this.
"""

from __future__ import annotations


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the command name, which may hold spaces and parentheses; [0] is the state.
    return stat[stat.rindex(b")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_running(pid: int, start_time: int | None) -> bool:
    """The process exists, is the one started at `start_time`, and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != b"Z" and start_time == int(fields[19])
