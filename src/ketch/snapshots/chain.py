"""ChainID, the identity of a stack of layers, as the OCI image-spec defines it."""

from __future__ import annotations

import hashlib


def chain_id(parent_chain_id: str | None, diff_id: str) -> str:
    """ChainID(L0) = DiffID(L0); ChainID(L0|...|Ln) = sha256(ChainID(n-1) + " " + DiffID(n))."""
    if parent_chain_id is None:
        return diff_id
    joined = f"{parent_chain_id} {diff_id}".encode()
    return "sha256:" + hashlib.sha256(joined).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The ChainID of every prefix of a layer list, bottom layer first."""
    result: list[str] = []
    parent: str | None = None
    for diff_id in diff_ids:
        parent = chain_id(parent, diff_id)
        result.append(parent)
    return result
