"""The local terminal: raw mode while attached to a container's TTY, and its size."""

from __future__ import annotations

import contextlib
import os
import signal
import termios
import tty
from collections.abc import Callable, Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType


def is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put a terminal in raw mode (keys such as Ctrl-C go to the container); always restore."""
    if not is_terminal(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def size(fd: int) -> tuple[int, int] | None:
    """(height, width) of the terminal on fd, or None when it is not one."""
    try:
        columns, lines = os.get_terminal_size(fd)
    except OSError:
        return None
    return lines, columns


@contextlib.contextmanager
def on_resize(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` on SIGWINCH while inside the block."""
    previous = signal.signal(signal.SIGWINCH, lambda _signum, _frame: callback())
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def _forwarder(
    forward: Callable[[str], None], name: str
) -> Callable[[int, FrameType | None], None]:
    """A signal handler passing the signal on, by name, instead of acting on it."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        forward(name)

    return handler


@contextlib.contextmanager
def forwarding_signals(forward: Callable[[str], None]) -> Iterator[None]:
    """Pass SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container instead of dying (--sig-proxy)."""
    names = {
        signal.SIGINT: "INT",
        signal.SIGTERM: "TERM",
        signal.SIGHUP: "HUP",
        signal.SIGQUIT: "QUIT",
    }
    previous = {}
    for number, name in names.items():
        previous[number] = signal.signal(number, _forwarder(forward, name))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
