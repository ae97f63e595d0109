"""A volume's record: what `docker volume inspect` shows of it."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from ketch.errors import InvalidArgument

# dockerd marks the volumes it names itself; prune (API >= 1.42) takes only those.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
LOCAL = "local"
_VALID_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass
class Volume:
    name: str
    mountpoint: str
    created_at: str  # RFC 3339 to the second, as dockerd's local driver shows it
    driver: str = LOCAL
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    def to_disk(self) -> dict[str, Any]:
        return {"Name": self.name, "Driver": self.driver, "CreatedAt": self.created_at,
                "Labels": self.labels, "Options": self.options}  # fmt: skip

    def view(self) -> dict[str, Any]:
        """Docker's Volume object; empty labels and options are null, as dockerd's."""
        return {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels) or None,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": dict(self.options) or None,
            "Scope": "local",
        }


def validate_name(name: str) -> None:
    if not _VALID_NAME.match(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def anonymous_name() -> str:
    """64 hex digits, as dockerd names a volume nobody named."""
    return secrets.token_hex(32)
