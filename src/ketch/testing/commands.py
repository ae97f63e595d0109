"""The ketch and docker command lines, run as a test's user would type them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

# The ketch of this environment (the venv running the tests), not one on PATH.
KETCH = str(Path(sys.executable).with_name("ketch"))
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def ketch(
    env: dict[str, str], *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([KETCH, *args], env=env, input=input, capture_output=True,
                          timeout=timeout)  # fmt: skip


def docker(
    env: dict[str, str], *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([DOCKER, *args], env=env, input=input, capture_output=True,
                          timeout=timeout)  # fmt: skip


def unique(prefix: str) -> str:
    """A container name of the test's own."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
