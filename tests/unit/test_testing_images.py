"""The offline test images: deterministic, well formed, and they hold what they claim."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from ketch.oci import mediatypes
from ketch.oci.digest import sha256_digest
from ketch.oci.manifest import parse_manifest
from ketch.testing import images
from ketch.testing.elf import static_executable


def members(layer: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        return {m.name: m for m in tar.getmembers()}


def read_member(layer: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read()


def test_hello_executable_runs_and_prints_its_message(tmp_path: Path) -> None:
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("no generator for this machine")
    hello = tmp_path / "hello"
    hello.write_bytes(static_executable(images.HELLO_MESSAGE.encode()))
    hello.chmod(0o755)
    done = subprocess.run([hello], capture_output=True, timeout=5)
    assert done.returncode == 0
    assert done.stdout.decode() == images.HELLO_MESSAGE
    assert "Hello from Ketch!" in done.stdout.decode()


@pytest.mark.parametrize(("machine", "code"), [("x86_64", 62), ("aarch64", 183), ("arm64", 183)])
def test_hello_executable_headers(machine: str, code: int) -> None:
    elf = static_executable(b"hi\n", machine)
    assert elf[:4] == b"\x7fELF" and elf[4] == 2  # ELF64
    assert struct.unpack_from("<H", elf, 18)[0] == code
    entry = struct.unpack_from("<Q", elf, 24)[0]
    assert entry == 0x400000 + 64 + 56
    assert elf.endswith(b"hi\n")


def test_hello_executable_refuses_unknown_machines() -> None:
    with pytest.raises(ValueError):
        static_executable(b"x", "riscv64")


def test_images_are_deterministic() -> None:
    first = images.hello_world.__wrapped__()
    second = images.hello_world.__wrapped__()
    assert first.id == second.id
    assert first.layer_digests == second.layer_digests
    assert first.manifest_digest == second.manifest_digest


def test_config_diff_ids_are_the_uncompressed_layers() -> None:
    image = images.busybox()
    assert image.diff_ids == [sha256_digest(gzip.decompress(layer)) for layer in image.layers]
    assert image.config["rootfs"]["type"] == "layers"
    assert len(image.config["history"]) == len(image.layers)


@pytest.mark.parametrize("media_type", [mediatypes.DOCKER_MANIFEST, mediatypes.OCI_MANIFEST])
def test_manifests_parse_and_name_the_blobs(media_type: str) -> None:
    image = images.hello_world()
    raw = image.manifest_as(media_type)
    manifest = parse_manifest(raw)
    assert manifest.media_type == media_type
    assert manifest.config.digest == image.config_digest == image.id
    assert manifest.config.size == len(image.config_bytes)
    assert [layer.digest for layer in manifest.layers] == image.layer_digests
    expected_layer = images.LAYER_MEDIA_TYPES[media_type]
    assert all(layer.media_type == expected_layer for layer in manifest.layers)
    assert json.loads(image.manifest_bytes) == image.manifest


def test_busybox_has_the_binary_applets_and_users() -> None:
    image = images.busybox()
    entries = members(image.layers[0])
    assert entries["bin/busybox"].isreg()
    assert entries["bin/busybox"].size == images.BUSYBOX.stat().st_size
    assert entries["bin/busybox"].mode == 0o755
    assert entries["bin/sh"].issym() and entries["bin/sh"].linkname == "busybox"
    assert entries["tmp"].mode == 0o1777
    passwd = read_member(image.layers[0], "etc/passwd").decode()
    assert passwd.startswith("root:x:0:0:")
    assert ":1000:1000:" in passwd and "nobody:x:65534:" in passwd
    assert "\noperator:x:37:37:" in passwd  # as the official image has it
    assert image.config["config"]["Cmd"] == ["sh"]
    names = list(entries)
    assert names == sorted(names)
    assert {m.mtime for m in entries.values()} == {images.EPOCH}


def test_redis_keeps_the_server_name_on_the_real_binary() -> None:
    image = images.redis()
    assert len(image.layers) == 2
    redis_layer = members(image.layers[1])
    server = redis_layer["usr/local/bin/redis-server"]
    assert server.isreg() and server.size == images.REDIS_SERVER.resolve().stat().st_size
    system = members(image.layers[0])
    loaders = [n for n in system if "ld-linux" in n]
    assert loaders, "the dynamic loader is in the image"
    assert any(n.endswith("libc.so.6") for n in system)
    config = image.config["config"]
    assert config["Cmd"][0] == "redis-server"
    assert config["ExposedPorts"] == {"6379/tcp": {}}
    assert config["WorkingDir"] == "/data"
    assert config["StopSignal"] == "SIGTERM"
    assert "redis:x:999:999:" in read_member(image.layers[0], "etc/passwd").decode()


def test_extend_shares_the_base_layers_byte_for_byte() -> None:
    base = images.busybox()
    child = images.extend(base, "app", "v1", [images.file("app/run", b"echo hi\n", 0o755)])
    assert child.layers[:1] == base.layers
    assert child.diff_ids[:1] == base.diff_ids and len(child.diff_ids) == 2
    assert child.id != base.id
    assert "app/run" in members(child.layers[1])


def test_for_platform_relabels_the_config() -> None:
    arm = images.for_platform(images.hello_world(), "arm64")
    assert arm.platform == {"os": "linux", "architecture": "arm64", "variant": "v8"}
    assert arm.id != images.hello_world().id


def test_a_layer_cannot_name_a_path_twice() -> None:
    with pytest.raises(ValueError, match="two entries"):
        images.layer_tar([images.file("a", b"1"), images.file("a", b"2")])


def test_whiteout_entries_use_the_tar_form() -> None:
    tar = images.layer_tar([images.whiteout("etc/gone")])
    with tarfile.open(fileobj=io.BytesIO(tar)) as opened:
        assert "etc/.wh.gone" in opened.getnames()
