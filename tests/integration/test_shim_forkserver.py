"""The daemon's fork-server client when the fork server dies or cannot start.

A dead fork server must be told apart from a spawn that failed: only a request it
never got may go to a new one (no second shim for a container), and a fork server
that cannot start says why.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.shim.client import ForkServer, ForkServerGone, ShimError
from ketch.shim.spec import ShimSpec

pytestmark = pytest.mark.integration


@pytest.fixture
def root() -> Iterator[Path]:
    made = Path(tempfile.mkdtemp(prefix="kt"))  # short: socket paths are limited
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def a_spec(root: Path) -> ShimSpec:
    name = uuid.uuid4().hex[:12]
    return ShimSpec(
        id=name, bundle=root / name / "bundle", rootfs_mounts=[], state_dir=root / name,
        socket_path=root / "s" / f"{name}.sock", cgroup_parent=f"ketch-test-{name}",
    )  # fmt: skip


def test_a_killed_fork_server_never_gets_the_next_request(root: Path) -> None:
    async def main() -> None:
        forkserver = await ForkServer.start(root / "run")
        try:
            os.kill(forkserver.process.pid, signal.SIGKILL)
            await forkserver.process.wait()
            with pytest.raises(ForkServerGone) as gone:
                await forkserver.spawn(a_spec(root))
            assert gone.value.delivered is False
            assert "the fork server exited" in gone.value.message
        finally:
            await forkserver.close()

    asyncio.run(main())


def test_a_spawn_that_fails_is_not_a_dead_fork_server(root: Path) -> None:
    async def main() -> None:
        forkserver = await ForkServer.start(root / "run")
        try:
            with pytest.raises(ShimError) as failed:
                await forkserver.spawn(a_spec(root))  # no bundle: the shim cannot start
            assert not isinstance(failed.value, ForkServerGone)
            assert forkserver.process.returncode is None
        finally:
            await forkserver.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("python", "reason"),
    [("/nonexistent/python3", "cannot start the fork server"),
     ("/bin/false", "the fork server failed to start (exit 1)")],
)  # fmt: skip
def test_a_fork_server_that_cannot_start_says_why(root: Path, python: str, reason: str) -> None:
    async def main() -> None:
        with pytest.raises(ShimError) as failed:
            await ForkServer.start(root / "run", python=python)
        assert reason in failed.value.message

    asyncio.run(main())
