"""Pure logic of the snapshot store: ChainIDs, entry names, compression sniffing."""

from __future__ import annotations

import hashlib

import pytest

from ketch import errors
from ketch.snapshots.chain import chain_id, chain_ids
from ketch.snapshots.decompress import compression_of
from ketch.snapshots.store import hex_of, valid_key
from ketch.snapshots.unpack import clean_name

DIFF_A = "sha256:" + "a" * 64
DIFF_B = "sha256:" + "b" * 64


def test_chain_id_of_a_bottom_layer_is_its_diff_id() -> None:
    assert chain_id(None, DIFF_A) == DIFF_A


def test_chain_id_hashes_parent_space_diff_id() -> None:
    expected = hashlib.sha256(f"{DIFF_A} {DIFF_B}".encode()).hexdigest()
    assert chain_id(DIFF_A, DIFF_B) == f"sha256:{expected}"
    assert chain_id(DIFF_B, DIFF_A) != chain_id(DIFF_A, DIFF_B)


def test_chain_ids_lists_every_prefix() -> None:
    ids = chain_ids([DIFF_A, DIFF_B, DIFF_A])
    assert ids[0] == DIFF_A
    assert ids[1] == chain_id(DIFF_A, DIFF_B)
    assert ids[2] == chain_id(ids[1], DIFF_A)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("./", []),
        (".", []),
        ("etc/passwd", ["etc", "passwd"]),
        ("./usr//bin/./sh", ["usr", "bin", "sh"]),
        ("a/../b", ["b"]),
        ("dir/", ["dir"]),
    ],
)
def test_clean_name_normalises(name: str, parts: list[str]) -> None:
    assert clean_name(name) == parts


@pytest.mark.parametrize("name", ["/etc/x", "../x", "a/../../x", "./../x", "//etc"])
def test_clean_name_refuses_escapes(name: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="invalid layer entry"):
        clean_name(name)


def test_compression_is_sniffed_from_magic_bytes() -> None:
    assert compression_of(b"\x1f\x8b\x08\x00") == "gzip"
    assert compression_of(b"\x28\xb5\x2f\xfd") == "zstd"
    assert compression_of(b"etc/") == "none"


def test_hex_of_refuses_non_sha256() -> None:
    assert hex_of(DIFF_A) == "a" * 64
    for bad in ("md5:abc", "sha256:xyz", "sha256:" + "A" * 64, "a" * 64):
        with pytest.raises(errors.InvalidArgument):
            hex_of(bad)


@pytest.mark.parametrize("key", ["", ".", "..", "a/b", "x\0"])
def test_snapshot_keys_cannot_leave_the_store(key: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        valid_key(key)
