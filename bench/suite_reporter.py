"""A pytest plugin for bench/client_suites.py: one JSON line per test phase.

Loaded into a client's own test run (`-p suite_reporter`, with bench/ on
PYTHONPATH), it appends each phase's outcome to the file named by
SUITE_REPORT as soon as the phase ends, so a run stopped by the total time
cap still leaves the results of every test that finished. It imports nothing
but the standard library: it runs in the client's venv, not ketch's.
"""

from __future__ import annotations

import json
import os
from typing import Any


def _message(report: Any) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # a skip: (file, line, reason)
        return str(longrepr[-1])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    return str(longrepr)


def pytest_runtest_logreport(report: Any) -> None:
    path = os.environ.get("SUITE_REPORT")
    if not path:
        return
    line = {
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "xfail": hasattr(report, "wasxfail"),
        "message": _message(report) if report.outcome != "passed" else "",
        "duration": round(report.duration, 3),
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
