"""Times as Docker writes them: RFC 3339 in UTC with nine fractional digits."""

from __future__ import annotations

import time


def rfc3339_nano(time_ns: int | None = None) -> str:
    if time_ns is None:
        time_ns = time.time_ns()
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
