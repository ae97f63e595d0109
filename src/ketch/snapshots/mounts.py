"""The mount description the store hands to the runtime.

The contract names `oci.runtime.Mount`; until that type exists, an
identical-shaped stand-in keeps this part usable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

try:
    from ketch.oci.runtime import Mount
except ImportError:

    @dataclass(frozen=True)
    class Mount:  # type: ignore[no-redef]
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
