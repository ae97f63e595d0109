"""snapshots: layers unpacked once per ChainID, overlay snapshots for containers."""

from ketch.snapshots.chain import chain_id, chain_ids
from ketch.snapshots.mounts import Mount
from ketch.snapshots.store import LayerInfo, SnapshotStore

__all__ = ["LayerInfo", "Mount", "SnapshotStore", "chain_id", "chain_ids"]
