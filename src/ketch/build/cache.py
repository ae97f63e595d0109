"""The build cache: which image a step made from which parent.

A step's key is a digest of its parent image, the instruction as it ran (words expanded,
the build args a RUN sees, a COPY's source digest); the value the image the step made.
One JSON file under the builder's root, written whole and atomically; the intermediate
images it names are ordinary (untagged) images of the images service. ketch keeps its own
index where the legacy builder probed every image's ContainerConfig: same answers, one
lookup.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ketch import atomicfile
from ketch.timestamps import rfc3339_nano


def step_key(parent_id: str, *parts: Any) -> str:
    text = json.dumps([parent_id, *parts], separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CacheRecord:
    image: str  # the image the step made
    parent: str  # its parent image ("" for a first step on scratch)
    description: str  # the step's created_by
    size: int  # bytes of the layer it added (0: config only)
    created: str
    last_used: str
    usage: int = 1


class CacheIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: dict[str, CacheRecord] = self._load()

    def _load(self) -> dict[str, CacheRecord]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:  # a torn file cannot happen (atomic writes); be robust anyway
            return {}
        return {key: CacheRecord(**value) for key, value in raw.get("steps", {}).items()}

    def _save(self) -> None:
        body = {"steps": {key: asdict(record) for key, record in self._records.items()}}
        atomicfile.write_json(self.path, body, sort_keys=True)

    def get(self, key: str) -> CacheRecord | None:
        return self._records.get(key)

    def used(self, key: str) -> None:
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record.usage += 1
                record.last_used = rfc3339_nano()
                self._save()

    def put(self, key: str, image: str, parent: str, description: str, size: int) -> None:
        now = rfc3339_nano()
        with self._lock:
            self._records[key] = CacheRecord(image, parent, description, size, now, now)
            self._save()

    def drop(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._records.pop(key, None)
            self._save()

    def items(self) -> list[tuple[str, CacheRecord]]:
        return sorted(self._records.items(), key=lambda item: item[1].created)
