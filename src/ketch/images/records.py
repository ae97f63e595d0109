"""What ketch remembers of each image besides its config: layers and manifest.

One JSON file per image, `meta/<id hex>.json`, written atomically. The image
config itself lives in the content store under its digest (the image ID).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ketch import atomicfile


@dataclass
class ImageRecord:
    id: str
    chain_id: str | None
    diff_ids: list[str]
    # Descriptors of the compressed layer blobs, as the manifest listed them.
    layers: list[dict[str, Any]] = field(default_factory=list)
    manifest_digest: str | None = None
    manifest_media_type: str | None = None
    size: int = 0
    last_tag_time: str | None = None
    parent: str | None = None  # the image committed on (moby keeps it beside the config too)


class RecordStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, image_id: str) -> Path:
        return self.directory / f"{image_id.split(':', 1)[-1]}.json"

    def get(self, image_id: str) -> ImageRecord | None:
        try:
            return ImageRecord(**json.loads(self._path(image_id).read_text()))
        except FileNotFoundError:
            return None

    def put(self, record: ImageRecord) -> None:
        atomicfile.write_json(self._path(record.id), asdict(record), indent=1, sort_keys=True)

    def delete(self, image_id: str) -> None:
        self._path(image_id).unlink(missing_ok=True)

    def ids(self) -> list[str]:
        return sorted(
            f"sha256:{p.stem}" for p in self.directory.glob("*.json") if not p.name.startswith(".")
        )
