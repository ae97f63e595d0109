"""Which volumes a list or a prune takes, by dockerd's filters (already checked for keys
and boolean values by the caller)."""

from __future__ import annotations

from ketch.volumes.model import Volume

LIST_FILTERS = {"dangling", "name", "label", "driver"}
PRUNE_FILTERS = {"label", "label!", "all"}


def labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    """Every `key` or `key=value` is on the volume (dockerd's MatchKVList)."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def list_matches(
    volume: Volume, filters: dict[str, list[str]], in_use: bool, dangling: bool | None
) -> bool:
    if dangling is not None and dangling == in_use:
        return False
    names = filters.get("name")
    if names and not any(name in volume.name for name in names):
        return False
    drivers = filters.get("driver")
    if drivers and volume.driver not in drivers:
        return False
    return labels_match(volume.labels, filters.get("label", []))


def prune_matches(volume: Volume, filters: dict[str, list[str]], every: bool) -> bool:
    """Not in use is the caller's check; here: anonymous unless `every`, and the labels
    (`label` all present, `label!` none present)."""
    if not every and not volume.anonymous:
        return False
    if not labels_match(volume.labels, filters.get("label", [])):
        return False
    return not any(labels_match(volume.labels, [item]) for item in filters.get("label!", []))
