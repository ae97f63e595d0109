"""VolumeStore: the volumes on disk, one directory each: `<root>/<name>/_data` holds the
data and `<root>/<name>/volume.json` the record (written atomically). Who uses a volume
is not known here; the containers service counts that."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
from pathlib import Path

from ketch import atomicfile
from ketch.errors import Conflict, Internal, KetchError, NotFound
from ketch.volumes import local
from ketch.volumes.model import ANONYMOUS_LABEL, LOCAL, Volume, anonymous_name, validate_name

log = logging.getLogger("ketch.volumes")
RECORD = "volume.json"


def now_rfc3339() -> str:
    stamp = datetime.datetime.now().astimezone().replace(microsecond=0).isoformat()
    return stamp.replace("+00:00", "Z")


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o701)
        self._volumes: dict[str, Volume] = {}
        for directory in sorted(self.root.iterdir()):
            try:
                data = json.loads((directory / RECORD).read_text())
                self._volumes[data["Name"]] = self._from_disk(data)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("skipping volume %s: %s", directory.name, exc)

    def _from_disk(self, data: dict[str, object]) -> Volume:
        name = str(data["Name"])
        return Volume(
            name=name, mountpoint=str(self.data_path(name)), created_at=str(data["CreatedAt"]),
            driver=str(data.get("Driver") or LOCAL), labels=dict(data.get("Labels") or {}),  # type: ignore[call-overload]
            options=dict(data.get("Options") or {}),  # type: ignore[call-overload]
        )  # fmt: skip

    def data_path(self, name: str) -> Path:
        return self.root / name / "_data"

    def create(
        self,
        name: str = "",
        driver: str = "",
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> tuple[Volume, bool]:
        """The volume `name` (a fresh anonymous one when ""), made unless it exists;
        returns it and whether it was made now."""
        driver = driver or LOCAL
        labels = dict(labels or {})
        if not name:
            name = anonymous_name()
            labels.setdefault(ANONYMOUS_LABEL, "")
        existing = self._volumes.get(name)
        if existing is not None:
            if driver != existing.driver:
                raise Conflict(
                    f"create {name}: volume name must be unique: driver '{existing.driver}' "
                    f"already has volume '{name}'"
                )
            return existing, False
        validate_name(name)
        if driver != LOCAL:
            raise NotFound(f'create {name}: error looking up volume plugin {driver}: '
                           f'plugin "{driver}" not found')  # fmt: skip
        options = dict(options or {})
        try:
            local.validate_options(options)
        except KetchError as exc:
            raise type(exc)(f"create {name}: {exc.message}") from None
        volume = Volume(name=name, mountpoint=str(self.data_path(name)),
                        created_at=now_rfc3339(), labels=labels, options=options)  # fmt: skip
        directory = self.root / name
        directory.mkdir(mode=0o701, exist_ok=True)
        self.data_path(name).mkdir(mode=0o755, exist_ok=True)
        atomicfile.write_json(directory / RECORD, volume.to_disk())
        self._volumes[name] = volume
        return volume, True

    def get(self, name: str) -> Volume:
        try:
            return self._volumes[name]
        except KeyError:
            raise NotFound(f"get {name}: no such volume") from None

    def list(self) -> list[Volume]:
        return sorted(self._volumes.values(), key=lambda v: v.name)

    def mount(self, name: str) -> Path:
        """The volume's data directory, its device mounted there first if its options
        name one (kept mounted until the volume is removed)."""
        volume = self.get(name)
        path = self.data_path(name)
        if local.needs_mount(volume.options) and not local.is_mounted(str(path)):
            local.mount(volume.options, str(path))
        return path

    def remove(self, name: str) -> None:
        self.get(name)
        path = self.data_path(name)
        for _ in range(8):  # mounted more than once: each unmount takes the top one
            if not local.is_mounted(str(path)):
                break
            local.unmount(str(path))
        if local.is_mounted(str(path)):
            # Never delete through a mount: a bind volume's files are the host's.
            raise Internal(f"remove {name}: its data is still mounted at {path}")
        with contextlib.suppress(FileNotFoundError):
            (self.root / name / RECORD).unlink()
        del self._volumes[name]
        shutil.rmtree(self.root / name, ignore_errors=True)

    def size(self, name: str) -> int:
        """Bytes of the files in the volume, each inode counted once (as dockerd's du)."""
        total = 0
        seen: set[tuple[int, int]] = set()
        for directory, _, files in os.walk(self.data_path(name)):
            for file in files:
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(directory, file))
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        total += st.st_size
        return total
