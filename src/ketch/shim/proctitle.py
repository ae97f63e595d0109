"""What `ps` shows for a shim or the fork server: their command line and their name.

The command line (/proc/<pid>/cmdline) is the memory of the process's own argv
strings. prctl(PR_SET_MM_ARG_START...) would point it elsewhere but needs
CAP_SYS_RESOURCE, which ketchd's root may not have; so the title is written over
those strings in place, as setproctitle(3) does, through /proc/self/mem (no C
code needed). The environment strings right after argv are room too, once libc
holds its own copies of them. The kernel shows the whole argv area when its
last byte is NUL, else (a title that ran past it) the title up to its NUL.
"""

from __future__ import annotations

import os

# Where the argv strings start, and where the room for a title ends.
_room: tuple[int, int] | None = None


def _argv_and_environment_addresses() -> tuple[int, int, int, int]:
    """arg_start, arg_end, env_start, env_end: fields 48 to 51 of /proc/self/stat."""
    with open("/proc/self/stat", "rb") as f:
        after_name = f.read().rpartition(b")")[2].split()  # fields 3 onwards
    arg_start, arg_end, env_start, env_end = (int(value) for value in after_name[45:49])
    return arg_start, arg_end, env_start, env_end


def _claim_room() -> tuple[int, int]:
    """The argv area, and the environment area after it once libc no longer points into it:
    setenv() makes libc copy each string to its own memory (os.environ is a copy already)."""
    global _room
    if _room is None:
        arg_start, arg_end, env_start, env_end = _argv_and_environment_addresses()
        end = arg_end
        if env_start == arg_end and env_end > env_start:
            for key, value in os.environb.items():
                os.putenv(key, value)
            end = env_end
        _room = (arg_start, end)
    return _room


def set_title(title: str) -> None:
    """Make /proc/self/cmdline read `title` (cut to the room there is). Best effort: a kernel
    without /proc/self/mem writes keeps the old command line."""
    try:
        start, end = _claim_room()
        data = title.encode()[: end - start - 1]
        fd = os.open("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC)
        try:
            # NULs after the title: nothing of the old argv or environment is left to read.
            os.pwrite(fd, data + bytes(end - start - len(data)), start)
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        pass


def set_process_name(name: str) -> None:
    """The name `ps -o comm` and `top` show (as prctl(PR_SET_NAME), at most 15 bytes), so a
    shim is not mistaken for the fork server."""
    try:
        fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, name.encode())
    except OSError:
        pass
    finally:
        os.close(fd)
