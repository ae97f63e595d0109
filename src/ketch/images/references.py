"""The tag store: which image each repository tag or digest names.

Kept as Docker keeps `repositories.json`: repositories by familiar name, each
mapping familiar references (`hello-world:latest`, `hello-world@sha256:...`)
to image IDs, so a reader can `cat` it. Written atomically on every change.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

from ketch import atomicfile
from ketch.oci import reference


class TagStore:
    """Full references (`docker.io/library/x:tag`, `...@sha256:`) -> image ID."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._refs: dict[str, str] = {}
        if path.exists():
            data = json.loads(path.read_text())
            for refs in data.get("Repositories", {}).values():
                for familiar, image_id in refs.items():
                    self._refs[str(reference.parse(familiar, default_tag=False))] = image_id

    def get(self, ref: reference.Reference) -> str | None:
        return self._refs.get(str(ref))

    def set(self, ref: reference.Reference, image_id: str) -> None:
        self._refs[str(ref)] = image_id
        self._save()

    def delete(self, ref: reference.Reference) -> bool:
        found = self._refs.pop(str(ref), None) is not None
        if found:
            self._save()
        return found

    def references_to(self, image_id: str) -> list[reference.Reference]:
        """Every reference naming the image, in a stable order."""
        return [
            reference.parse(text, default_tag=False)
            for text, target in sorted(self._refs.items())
            if target == image_id
        ]

    def image_ids(self) -> builtins.set[str]:
        return set(self._refs.values())

    def _save(self) -> None:
        repositories: dict[str, dict[str, str]] = {}
        for text, image_id in self._refs.items():
            ref = reference.parse(text, default_tag=False)
            repositories.setdefault(ref.familiar_name, {})[ref.familiar()] = image_id
        atomicfile.write_json(self.path, {"Repositories": repositories}, indent=1, sort_keys=True)
