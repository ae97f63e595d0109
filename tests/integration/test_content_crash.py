"""The content store across processes: a writer killed mid-blob, and two writers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ketch import errors
from ketch.content import ContentStore
from ketch.oci.digest import sha256_digest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

DATA = os.urandom(3 * 1024 * 1024)
DIGEST = sha256_digest(DATA)

# Writes half the blob, says so, then waits to be killed: a daemon dying mid-pull.
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ketch.content import ContentStore
    root, digest, size, source = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    data = Path(source).read_bytes()
    ingest = ContentStore(Path(root)).writer(digest, size)
    ingest.write(data[: size // 2])
    print("half", flush=True)
    time.sleep(60)
    """
)


def start_writer(tmp_path: Path, store: ContentStore) -> subprocess.Popen[str]:
    source = tmp_path / "source"
    source.write_bytes(DATA)
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.root), DIGEST, str(len(DATA)), str(source)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "half"
    return process


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_killed_writer_leaves_a_partial_that_resumes(tmp_path):
    store = ContentStore(tmp_path / "content")
    process = start_writer(tmp_path, store)
    try:
        # while it lives, its lock keeps a second writer out
        with pytest.raises(errors.Conflict):
            store.writer(DIGEST, len(DATA))
    finally:
        stop(process)
    assert not store.has(DIGEST)
    assert store.ingest_offset(DIGEST) == len(DATA) // 2
    ingest = store.writer(DIGEST, len(DATA))
    assert ingest.offset == len(DATA) // 2
    ingest.write(DATA[ingest.offset :])
    assert ingest.commit() == DIGEST
    assert store.read_bytes(DIGEST) == DATA
    assert list((store.root / "ingest").iterdir()) == []
