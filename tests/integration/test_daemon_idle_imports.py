"""An idle ketchd loads no more than it did: each module is memory the daemon keeps whether
or not a request ever needs it (the decompressors, the builder, netlink are loaded by the
first pull, build or container network instead). The modules are those of a real ketchd,
started and serving, asked for them by a signal."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ketch.testing.daemon import run_daemon

# ketchd, with a SIGUSR1 handler that writes its sys.modules next to the path given first.
LAUNCHER = r"""
import signal, sys
out = sys.argv.pop(1)
def dump(*_):
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(sorted(sys.modules)))
    import os
    os.rename(out + ".tmp", out)
signal.signal(signal.SIGUSR1, dump)
from ketch.daemon import main
sys.exit(main(sys.argv[1:]))
"""

NOT_AT_IDLE = {
    "isal",  # layers' gzip: the first blob opened
    "zstandard",
    "tarfile",  # the unpacker and exporter
    "ketch.snapshots.unpack",
    "ketch.build.service",  # the builder: the first build
    "ketch.build.executor",
    "pyroute2",  # netlink: the first container network
}
# What an idle ketchd loaded when this test was written (interpreter and site included).
MODULE_BUDGET = 440


def idle_modules(tmp_path: Path) -> set[str]:
    out = tmp_path / "modules"
    daemon = run_daemon(tmp_path, debug=False, launcher=["-c", LAUNCHER, str(out)])
    try:
        os.kill(daemon.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return set(out.read_text().split())
    finally:
        daemon.stop()


def test_an_idle_daemon_imports_only_what_it_did(tmp_path: Path) -> None:
    loaded = idle_modules(tmp_path)
    assert "ketch.api.server" in loaded  # the daemon really served
    assert not loaded & NOT_AT_IDLE, sorted(loaded & NOT_AT_IDLE)
    assert len(loaded) <= MODULE_BUDGET, len(loaded)
