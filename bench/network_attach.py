"""Per-container network setup time: a veth made in a namespace, configured, a port published.

Run as root: `.venv/bin/python bench/network_attach.py [count]`. Each round makes
a fresh network namespace (as a container's), times `NetworkManager.attach` on
the default bridge with one published TCP port, and detaches. Prints the median.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ketch.network.manager import NetworkManager
from ketch.network.model import EndpointRequest, PortBinding
from ketch.testing import netlab


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    tag = secrets.token_hex(3)
    times = []
    with tempfile.TemporaryDirectory() as root:
        manager = NetworkManager(
            Path(root), bridge=f"ktb{tag}", address_pools=[("10.188.0.0/16", 24)],
            table=f"kt_{tag}",
        )  # fmt: skip
        try:
            manager.restore(set())
            for _ in range(count):
                with netlab.netns() as ns:
                    container_id = secrets.token_hex(32)
                    start = time.perf_counter()
                    asyncio.run(
                        manager.attach(container_id, "bench", ns.path, EndpointRequest("bridge"),
                                       (PortBinding(80),))  # fmt: skip
                    )
                    times.append(time.perf_counter() - start)
                    asyncio.run(manager.detach(container_id))
        finally:
            manager.remove_all()
            manager.close()
    ms = sorted(t * 1000 for t in times)
    print(f"attach (veth in netns + address, MAC, route + one published port), {count} rounds:")
    print(f"  median {statistics.median(ms):.2f} ms, min {ms[0]:.2f} ms, max {ms[-1]:.2f} ms")


if __name__ == "__main__":
    main()
