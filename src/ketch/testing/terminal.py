"""Drive a command through a real pseudo-terminal, as a person at a terminal would."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import termios
import time
from dataclasses import dataclass

CURSOR_POSITION_QUERY = b"\x1b[6n"


@dataclass
class TerminalRun:
    exit_code: int
    output: bytes


class PseudoTerminal:
    """A command on the slave side of a pty; the test types into and reads the master."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env,
            start_new_session=True, close_fds=True,
            preexec_fn=lambda: __import__("fcntl").ioctl(0, termios.TIOCSCTTY, 0),
        )  # fmt: skip
        os.close(slave)
        self.output = bytearray()

    def read_until(self, needle: bytes, timeout: float = 20.0) -> bytes:
        """Read until `needle` shows up; raises TimeoutError with what was seen."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{needle!r} not seen; output so far: {bytes(self.output)!r}")
            if self._read_some(left) is False:
                raise EOFError(f"{needle!r} not seen before EOF: {bytes(self.output)!r}")
        return bytes(self.output)

    def read_more(self, timeout: float) -> None:
        """Read what comes within `timeout`, for tests that count what they see."""
        self._read_some(timeout)

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def wait(self, timeout: float = 30.0) -> TerminalRun:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read_some(0.1)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            raise TimeoutError(f"command did not exit; output: {bytes(self.output)!r}")
        while self._read_some(0.05) is True:
            pass
        os.close(self.master)
        return TerminalRun(self.process.returncode, bytes(self.output))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        try:
            os.close(self.master)
        except OSError:
            pass

    def _read_some(self, timeout: float) -> bool | None:
        """True: read data; None: nothing came in time; False: end of output."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return None
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the slave side is closed
            return False
        self.output += data
        # Line editors (redis-cli's linenoise) ask where the cursor is and
        # wait for the answer a real terminal gives.
        for _ in range(data.count(CURSOR_POSITION_QUERY)):
            os.write(self.master, b"\x1b[24;80R")
        return bool(data)
