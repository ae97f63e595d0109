"""What the images hold on disk, counted as dockerd's `system df` counts it (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerUsage:
    layers_size: int  # every layer some image uses, each counted once
    shared_size: dict[str, int]  # image id -> bytes of its layers that other images use too


def layer_usage(
    image_layers: dict[str, list[str]], layer_size: Callable[[str], int]
) -> LayerUsage:
    """From each image's layers (ChainIDs) and a layer's size: LayersSize, and each
    image's SharedSize, the layers it has that at least one other image has as well."""
    users = Counter(chain for chains in image_layers.values() for chain in set(chains))
    sizes = {chain: layer_size(chain) for chain in users}
    shared = {
        image_id: _total(sizes, (chain for chain in set(chains) if users[chain] > 1))
        for image_id, chains in image_layers.items()
    }
    return LayerUsage(layers_size=_total(sizes, sizes), shared_size=shared)


def _total(sizes: dict[str, int], chains: Iterable[str]) -> int:
    return sum(sizes[chain] for chain in chains)
