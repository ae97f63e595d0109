"""A stand-in builder for tests of `/build` and the clients that call it: a real ketchd
serves the route, this records what the route hands it and answers from a script.

Run ketchd with it as `python -m ketch.testing.fakebuilder <dir> <ketchd args...>`.
In `<dir>`, a test writes `script.json` before a build:

    {"messages": [...],        # yielded in order
     "fail": "text",           # then raise KetchError(text) (InvalidArgument if "status": 400)
     "hang": true,             # then wait until cancelled
     "prune": [["id1"], 42],   # what prune returns
     "cache": [{...}]}         # cache_usage's rows

and finds, per build, `build-<n>/options.json` (the BuildOptions), `context.tar` (the
body as received), `received` once all of it came, and `cancelled` (holding the
exception's name) when the build ended early: closed, cancelled while it waited, or its
context cut off. A prune is recorded in `prune-<n>.json`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ketch.build.options import BuildOptions
from ketch.errors import InvalidArgument, KetchError


class FakeBuilder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.builds = itertools.count(1)
        self.prunes = itertools.count(1)

    def script(self) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads((self.directory / "script.json").read_text())
        except FileNotFoundError:
            return {}
        return value

    async def build(
        self, options: BuildOptions, context: AsyncIterator[bytes]
    ) -> AsyncIterator[dict[str, Any]]:
        record = self.directory / f"build-{next(self.builds)}"
        record.mkdir()
        (record / "options.json").write_text(json.dumps(dataclasses.asdict(options)))
        script = self.script()
        try:
            with open(record / "context.tar", "wb") as out:
                async for chunk in context:
                    out.write(chunk)
            (record / "received").touch()
            for message in script.get("messages", []):
                yield message
            if script.get("hang"):
                (record / "hanging").touch()
                await asyncio.sleep(3600)
        except BaseException as exc:  # cancelled, closed, or its context cut off
            (record / "cancelled").write_text(type(exc).__name__)
            raise
        if "fail" in script:
            kind = InvalidArgument if script.get("status") == 400 else KetchError
            raise kind(script["fail"])

    async def prune(
        self, *, all: bool = False, filters: dict[str, Any] | None = None,
        keep_storage: int | None = None,
    ) -> tuple[list[str], int]:  # fmt: skip
        record = self.directory / f"prune-{next(self.prunes)}.json"
        record.write_text(json.dumps({"all": all, "filters": filters,
                                      "keep_storage": keep_storage}))  # fmt: skip
        ids, reclaimed = self.script().get("prune", [[], 0])
        return list(ids), int(reclaimed)

    def cache_usage(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.script().get("cache", [])
        return rows


class Records:
    """The test's side of the fake's directory: its script, and what each build got."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def script(self, **script: Any) -> None:
        (self.directory / "script.json").write_text(json.dumps(script))

    def builds(self) -> list[Path]:
        return sorted(self.directory.glob("build-*"), key=lambda p: int(p.name.split("-")[1]))

    def last(self) -> Path:
        return self.builds()[-1]

    def options(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads((self.last() / "options.json").read_text())
        return value

    def context(self) -> bytes:
        return (self.last() / "context.tar").read_bytes()


def main() -> int:
    """ketchd with the fake builder wired into its backend; daemon.py stays as it is.
    `none` for the directory: a ketchd without a builder."""
    from ketch import daemon
    from ketch.api.backend import Backend
    from ketch.config import DaemonConfig

    directory = Path(sys.argv[1])
    build_backend = daemon.build_backend

    async def with_fake_builder(cfg: DaemonConfig) -> Backend:
        backend = await build_backend(cfg)
        backend.build_service = None if sys.argv[1] == "none" else FakeBuilder(directory)
        return backend

    daemon.build_backend = with_fake_builder
    return daemon.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
