"""The stdio of a container's init as the shim sets it up, before ketch-monitor takes it over."""

from __future__ import annotations

import os
import signal


class Stdio:
    """The shim's ends of the init's stdio, and the child's ends until it has forked.

    For a tty the init makes a pty in the container's own devpts and sends the
    master back (`adopt_master`), so its child ends are /dev/null. (An exec's
    stdio is ketch-monitor's to make.)
    """

    def __init__(self, tty: bool, open_stdin: bool) -> None:
        self.tty = tty
        self.open_stdin = open_stdin
        self.master: int | None = None
        self.stdin_w: int | None = None
        # fd -> stream name ("stdout"/"stderr"); a pty master is one fd for both directions.
        self.outputs: dict[int, str] = {}
        self.child_fds: tuple[int, int, int]
        if tty:
            null = os.open("/dev/null", os.O_RDWR)
            self.child_fds = (null, null, null)
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


def reset_signals_in_child() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; an ignored signal survives execve, so restore them."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
