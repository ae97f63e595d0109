"""volumes: named directories that outlive containers (the `local` driver), kept under
`<data-root>/volumes/<name>/_data` as dockerd keeps them."""

from ketch.volumes.model import ANONYMOUS_LABEL, Volume
from ketch.volumes.store import VolumeStore

__all__ = ["ANONYMOUS_LABEL", "Volume", "VolumeStore"]
