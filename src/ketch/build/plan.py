"""Which stages a build runs (pure).

With a target, only the stages the target needs: the target, the stages its FROM names,
its COPY --from and RUN --mount from= name, and theirs. BuildKit skips the rest; the legacy
builder built every stage up to the target. ketch does as BuildKit. Without a target,
every stage runs, as the legacy builder does.
"""

from __future__ import annotations

from collections.abc import Callable

from ketch import errors
from ketch.build import instructions
from ketch.build.instructions import Dockerfile, Stage


def find_stage(stages: tuple[Stage, ...] | list[Stage], name: str, before: int) -> Stage | None:
    """An earlier stage by name (case-insensitive) or by index."""
    lowered = name.lower()
    for stage in stages[:before]:
        if stage.name is not None and stage.name == lowered:
            return stage
    if name.isdigit():
        index = int(name)
        if index == before:
            raise errors.InvalidArgument(f"invalid from flag value {name}: refers to current "
                                         "build stage")  # fmt: skip
        if index > before:
            raise errors.InvalidArgument(f"invalid from flag value {name}: index out of bounds")
        return stages[index]
    return None


def mount_sources(step: instructions.Run) -> list[str]:
    """The from= of a RUN's --mount options."""
    found = []
    for mount in step.mounts:
        for option in mount.split(","):
            key, _, value = option.partition("=")
            if key.strip() == "from" and value:
                found.append(value.strip())
    return found


def references(stage: Stage, expand: Callable[[str], str]) -> list[str]:
    """The names a stage's FROM, COPY --from and RUN --mount from= use."""
    names = [expand(stage.base.image)]
    for step in stage.instructions:
        if isinstance(step, instructions.Copy) and step.from_:
            names.append(expand(step.from_))
        elif isinstance(step, instructions.Run):
            names.extend(expand(name) for name in mount_sources(step))
    return names


def stages_to_build(
    dockerfile: Dockerfile, target: str | None, expand: Callable[[str], str]
) -> list[Stage]:
    """The stages to run, in Dockerfile order; `expand` fills in meta ARGs."""
    stages = list(dockerfile.stages)
    if not stages:
        raise errors.InvalidArgument("No image was generated. Is your Dockerfile empty?")
    seen: set[str] = set()
    for stage in stages:
        if stage.name is not None:
            if stage.name in seen:
                raise errors.InvalidArgument(f"{stage.name} stage name already used")
            seen.add(stage.name)
    if not target:
        return stages
    chosen = next((s for s in stages if s.name == target.lower()), None)
    if chosen is None:
        raise errors.InvalidArgument(f'target stage "{target}" could not be found')
    needed = {chosen.index}
    pending = [chosen]
    while pending:
        stage = pending.pop()
        for name in references(stage, expand):
            try:
                found = find_stage(stages, name, stage.index)
            except errors.InvalidArgument:
                continue  # reported when the step runs
            if found is not None and found.index not in needed:
                needed.add(found.index)
                pending.append(found)
    return [stage for stage in stages if stage.index in needed]


def dependencies(
    dockerfile: Dockerfile, stages: list[Stage], expand: Callable[[str], str]
) -> list[frozenset[int]]:
    """For each stage to build (by its position in `stages`), the earlier ones it must wait
    for: those its FROM, COPY --from and RUN --mount from= name (every earlier one when such
    a name has a variable the stage's own ARG or ENV may fill), and an earlier one that
    starts as it does (same FROM, same first step): run one after the other, its steps
    would come from the build cache, and so they shall."""
    position_of = {stage.index: position for position, stage in enumerate(stages)}
    found = []
    for position, stage in enumerate(stages):
        needs: set[int] = set()
        if _names_vary(stage):
            needs.update(range(position))
        for name in references(stage, expand):
            try:
                source = find_stage(dockerfile.stages, name, stage.index)
            except errors.InvalidArgument:
                continue  # reported when the step runs
            if source is not None and source.index in position_of:
                needs.add(position_of[source.index])
        needs.update(p for p in range(position) if _same_start(stages[p], stage, expand))
        found.append(frozenset(needs))
    return found


def _names_vary(stage: Stage) -> bool:
    for step in stage.instructions:
        if isinstance(step, instructions.Copy) and step.from_ and "$" in step.from_:
            return True
        if isinstance(step, instructions.Run) and any("$" in spec for spec in step.mounts):
            return True
    return False


def _same_start(first: Stage, second: Stage, expand: Callable[[str], str]) -> bool:
    return (
        expand(first.base.image) == expand(second.base.image)
        and first.base.platform == second.base.platform
        and bool(first.instructions) and bool(second.instructions)
        and first.instructions[0].original == second.instructions[0].original
    )  # fmt: skip
