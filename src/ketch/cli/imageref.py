"""What the CLI needs from an image reference: its familiar form and its parts for a pull."""

from __future__ import annotations

from dataclasses import dataclass

from ketch.oci import reference


@dataclass(frozen=True)
class PullTarget:
    name: str  # familiar repository name, as docker's client sends fromImage
    tag: str  # a tag or a digest
    domain: str
    familiar: str  # hello-world:latest
    full: str  # docker.io/library/hello-world:latest
    repository: str  # docker.io/library/hello-world


def parse(text: str) -> PullTarget:
    """Raises errors.InvalidArgument("invalid reference format") for bad input."""
    ref = reference.parse(text)
    return PullTarget(
        name=ref.familiar_name,
        tag=ref.digest or ref.tag or "latest",
        domain=ref.domain,
        familiar=ref.familiar(),
        full=str(ref),
        repository=ref.name,
    )


def tag_was_given(text: str) -> bool:
    last = text.rsplit("/", 1)[-1]
    return ":" in last or "@" in text
