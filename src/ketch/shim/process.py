"""One process a shim holds (the container's init or an exec): its stdio and who listens to it."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ketch.runtime.console import open_pty

if TYPE_CHECKING:
    from ketch.shim.connection import Client

# Stop reading a process's output while a slow attach client has this much unsent.
HIGH_WATER = 1024 * 1024


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class Stdio:
    """The shim's ends of a process's stdio, and the child's ends until it has forked.

    For a tty the pty comes from the container's devpts: an exec's is opened
    here through `devpts` (/proc/<init>/root/dev/pts); the init makes its own
    and sends the master back (`adopt_master`), so its child ends are /dev/null.
    """

    def __init__(self, tty: bool, open_stdin: bool, devpts: str | None = None) -> None:
        self.tty = tty
        self.open_stdin = open_stdin
        self.master: int | None = None
        self.stdin_w: int | None = None
        # fd -> stream name ("stdout"/"stderr"); a pty master is one fd for both directions.
        self.outputs: dict[int, str] = {}
        self.child_fds: tuple[int, int, int]
        if tty:
            if devpts is None:
                null = os.open("/dev/null", os.O_RDWR)
                self.child_fds = (null, null, null)
            else:
                master, slave, _ = open_pty(devpts)
                self.adopt_master(master)
                self.child_fds = (slave, slave, slave)
        else:
            if open_stdin:
                stdin_r, self.stdin_w = os.pipe()
                os.set_blocking(self.stdin_w, False)
            else:
                stdin_r = os.open("/dev/null", os.O_RDONLY)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            for fd in (out_r, err_r):
                os.set_blocking(fd, False)
            self.outputs[out_r] = "stdout"
            self.outputs[err_r] = "stderr"
            self.child_fds = (stdin_r, out_w, err_w)

    def adopt_master(self, master: int) -> None:
        os.set_blocking(master, False)
        self.master = master
        self.outputs[master] = "stdout"
        if self.open_stdin:
            self.stdin_w = master

    def close_child_ends(self) -> None:
        for fd in set(self.child_fds):
            os.close(fd)


class Process:
    """State of one process: not started, running, or exited (reaped and its output drained)."""

    def __init__(self, exec_id: str, stdio: Stdio, stdin_once: bool, log: Any = None) -> None:
        self.id = exec_id
        self.stdio = stdio
        self.stdin_once = stdin_once
        self.log = log
        # Set while the log cannot be written (a full disk): reported once, not per chunk.
        self.log_failing = False
        self.pid: int | None = None
        self.status = "created"
        self.exit_code: int | None = None
        self.oom_killed = False
        self.started_at = ""
        self.finished_at = ""
        self.reaped = False
        self.attached: list[Client[Process]] = []
        self.waiters: list[Client[Process]] = []
        self.stdin_buffer = bytearray()
        self.stdin_closing = False
        # Set by the shim's loop: forget an fd before it is closed and its number reused.
        self.before_close: Callable[[int], None] = lambda fd: None
        self.paused = False
        # An exec's runtime-spec process and --user, until it starts.
        self.spec: dict[str, Any] = {}

    def write_stdin(self, data: bytes) -> None:
        if self.stdio.stdin_w is None:
            return
        self.stdin_buffer += data
        self.flush_stdin()

    def flush_stdin(self) -> bool:
        """Write what stdin can take now; True when all buffered input is written."""
        fd = self.stdio.stdin_w
        while self.stdin_buffer and fd is not None:
            try:
                written = os.write(fd, self.stdin_buffer)
            except BlockingIOError:
                return False
            except OSError as error:
                if error.errno in (errno.EPIPE, errno.EIO, errno.EBADF):
                    self.stdin_buffer.clear()
                    break
                raise
            del self.stdin_buffer[:written]
        if self.stdin_closing and not self.stdin_buffer:
            self._close_stdin_now()
        return True

    def close_stdin(self) -> None:
        """Close the process's stdin once what is buffered for it has been written."""
        if self.stdio.stdin_w is None or self.stdin_closing:
            return
        if self.stdio.tty:
            # A pty has no half-close: end-of-file is the terminal's ^D.
            self.write_stdin(b"\x04")
            return
        self.stdin_closing = True
        self.flush_stdin()

    def _close_stdin_now(self) -> None:
        fd = self.stdio.stdin_w
        if fd is not None and fd not in self.stdio.outputs:
            self.stdio.stdin_w = None
            self.before_close(fd)
            os.close(fd)

    def exit_info(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "oom_killed": self.oom_killed,
            "finished_at": self.finished_at,
        }


def reset_signals_in_child() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; an ignored signal survives execve, so restore them."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
