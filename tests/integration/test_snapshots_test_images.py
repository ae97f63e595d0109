"""The offline test images, unpacked by the snapshot store, run for real (chroot)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ketch.snapshots import SnapshotStore
from ketch.testing import images

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def unpack(store: SnapshotStore, image: images.TestImage, tmp_path: Path) -> str:
    parent = None
    for index, (layer, diff_id) in enumerate(zip(image.layers, image.diff_ids, strict=True)):
        blob = tmp_path / f"{image.repo}-{index}"
        blob.write_bytes(layer)
        parent, got, _ = store.apply_layer(parent, blob, "tar+gzip", diff_id=diff_id)
        assert got == diff_id
    assert parent is not None
    return parent


def run_chrooted(store: SnapshotStore, key: str, chain: str, tmp_path: Path, *argv: str) -> str:
    """Mount the image's snapshot in a private mount namespace and run argv in it."""
    options = ",".join(store.prepare(key, chain)[0].options)
    merged = tmp_path / f"merged-{key}"
    merged.mkdir()
    command = " ".join(f"'{a}'" for a in argv)
    script = (
        f"mount -t overlay overlay -o {options} {merged}\n"
        f"[ -d {merged}/proc ] && mount -t proc proc {merged}/proc\n"
        f"exec chroot {merged} {command}\n"
    )
    done = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--fork",
            "/bin/sh",
            "-euc",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    store.remove(key)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_hello_world_prints_its_greeting(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    chain = unpack(store, images.hello_world(), tmp_path)
    output = run_chrooted(store, "hello", chain, tmp_path, "/hello")
    assert output == images.HELLO_MESSAGE


def test_busybox_shell_and_users_work(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    chain = unpack(store, images.busybox(), tmp_path)
    output = run_chrooted(
        store, "bb", chain, tmp_path, "/bin/sh", "-c", "echo hi from $(id -u user); ls /tmp"
    )
    assert output == "hi from 1000\n"


def test_redis_server_starts_under_its_name(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    chain = unpack(store, images.redis(), tmp_path)
    output = run_chrooted(
        store, "redis", chain, tmp_path, "/usr/local/bin/redis-server", "--version"
    )
    assert output.startswith("Redis server v=")
    cli = run_chrooted(store, "cli", chain, tmp_path, "/usr/local/bin/redis-cli", "--version")
    assert cli.startswith("redis-cli ")
