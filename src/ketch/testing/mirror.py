"""A local stand-in for Docker Hub: a registry on 127.0.0.1 seeded with the
images ketch makes offline, for ketchd's `registry-mirrors`.

`python -m ketch.testing.mirror --listen 127.0.0.1:5000 --root DIR` starts
the registry in the background (unless one already answers there), pushes
`library/hello-world`, `library/busybox` and `library/redis`, and returns.
The registry keeps running; its PID is in DIR/registry.pid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ketch.testing import images
from ketch.testing.registry import REGISTRY_BINARY

SEED = {"hello-world": images.hello_world, "busybox": images.busybox, "redis": images.redis}


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/v2/", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_registry(listen: str, root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "storage")}},
        "http": {"addr": listen},
    }
    config_path = root / "config.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    with open(root / "registry.log", "ab") as log:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    (root / "registry.pid").write_text(f"{process.pid}\n")
    url = f"http://{listen}"
    deadline = time.monotonic() + 15
    while not answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the mirror registry did not start; see {root / 'registry.log'}")
        time.sleep(0.05)
    return process.pid


def seed(url: str) -> None:
    for name, build in SEED.items():
        digest = images.push_sync(build(), url, repo=f"library/{name}", tag="latest")
        print(f"mirror: library/{name}:latest {digest}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ketch.testing.mirror")
    parser.add_argument("--listen", default="127.0.0.1:5000")
    parser.add_argument("--root", type=Path, default=Path("/var/lib/ketch-mirror"))
    args = parser.parse_args(argv)
    url = f"http://{args.listen}"
    if not answers(url):
        pid = start_registry(args.listen, args.root)
        print(f"mirror: registry started at {url} (pid {pid})")
    seed(url)
    os.sync()


if __name__ == "__main__":
    main()
