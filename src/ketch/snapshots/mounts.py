"""The mount description the store hands to the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mount:
    type: str
    source: str
    destination: str
    options: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """runtime-spec form."""
        return {
            "destination": self.destination,
            "type": self.type,
            "source": self.source,
            "options": list(self.options),
        }


__all__ = ["Mount"]
