"""A process's title over its argv (and environment) strings, seen in /proc/self/cmdline.

Run in a fresh interpreter: the title replaces the command line of the process that sets it.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import ctypes, json, os, sys
from ketch.shim.proctitle import set_title, set_process_name

def cmdline():
    with open("/proc/self/cmdline", "rb") as f:
        return f.read().decode()

# "+N": a title N bytes longer than this process's argv area.
title = sys.argv[1]
if title.startswith("+"):
    title = "ketch-shim -id " + "f" * (len(cmdline()) + int(title[1:]))
set_title(title)
set_process_name("ketch-probe")
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
with open("/proc/self/comm") as f:
    comm = f.read().strip()
print(json.dumps({"cmdline": cmdline(), "comm": comm,
                  "getenv": (libc.getenv(b"KETCH_PROBE") or b"").decode(),
                  "environ": os.environ.get("KETCH_PROBE")}))
"""


def probe(title: str) -> dict[str, str]:
    env = {"KETCH_PROBE": "kept " * 200, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, title], env=env, capture_output=True, text=True,
        check=True, timeout=60,
    ).stdout  # fmt: skip
    return json.loads(out)


def test_a_title_that_fits_in_argv_is_followed_by_nuls_only() -> None:
    seen = probe("ketch-shim -id abc")
    assert seen["cmdline"].rstrip("\0") == "ketch-shim -id abc"
    assert seen["comm"] == "ketch-probe"
    assert seen["getenv"] == seen["environ"] == "kept " * 200


def test_a_title_longer_than_argv_runs_into_the_environment_room() -> None:
    seen = probe("+200")
    # The kernel reads such a title up to its NUL, a page at most; the environment
    # strings it overwrote were copied out first, for libc and for os.environ alike.
    title = seen["cmdline"].rstrip("\0")
    assert title.startswith("ketch-shim -id ffff") and "\0" not in title
    assert len(title) > len(PROBE) + 200
    assert seen["getenv"] == seen["environ"] == "kept " * 200
