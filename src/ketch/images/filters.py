"""`GET /images/json` filters as dockerd applies them: reference, dangling, label,
before, since. `docker images busybox` is a reference filter."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ketch.errors import InvalidArgument

IMAGE_FILTERS = ("reference", "dangling", "label", "before", "since")


def normalise(raw: Any) -> dict[str, list[str]]:
    """Both wire forms: {"reference": {"busybox": true}} and {"reference": ["busybox"]}."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgument("invalid filter value")
    found: dict[str, list[str]] = {}
    for key, values in raw.items():
        if isinstance(values, dict):
            found[key] = [str(v) for v, on in values.items() if on]
        elif isinstance(values, list):
            found[key] = [str(v) for v in values]
        else:
            found[key] = [str(values)]
    for key in found:
        if key not in IMAGE_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for value in found.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
    return found


def _glob(pattern: str) -> re.Pattern[str]:
    """Go's path.Match: `*` and `?` stop at `/`, brackets are character classes."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"invalid reference filter {pattern!r}: syntax error")
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _reference_matches(pattern: re.Pattern[str], ref: str) -> bool:
    """distribution's FamiliarMatch: the whole familiar form, or its name alone."""
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return bool(pattern.match(ref) or pattern.match(name))


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def apply(
    rows: list[dict[str, Any]],
    filters: dict[str, list[str]],
    created_of: Callable[[str], int],
) -> list[dict[str, Any]]:
    """Keep the summaries that pass; a reference filter narrows RepoTags and RepoDigests
    to the references it matched, as dockerd's list does."""
    patterns = [_glob(p) for p in filters.get("reference", [])]
    dangling = [v.lower() in ("true", "1") for v in filters.get("dangling", [])]
    before = [created_of(name) for name in filters.get("before", [])]
    since = [created_of(name) for name in filters.get("since", [])]
    kept = []
    for row in rows:
        is_dangling = not row["RepoTags"] and not row["RepoDigests"]
        if dangling and is_dangling != dangling[-1]:
            continue
        if filters.get("label") and not _labels_match(row.get("Labels") or {}, filters["label"]):
            continue
        if before and row["Created"] >= min(before):
            continue
        if since and row["Created"] <= max(since):
            continue
        if patterns:
            tags = [t for t in row["RepoTags"] if any(_reference_matches(p, t) for p in patterns)]
            digests = [
                d for d in row["RepoDigests"] if any(_reference_matches(p, d) for p in patterns)
            ]
            if not tags and not digests:
                continue
            row = {**row, "RepoTags": tags, "RepoDigests": digests}
        kept.append(row)
    return kept


def prune_matcher(filters: dict[str, list[str]], now: float) -> Callable[[Any], bool]:
    """`image prune`'s label, label! and until, as dockerd applies them: labels of the image
    config's `config.Labels` (`label` all present, `label!` none), `until` created before
    (a duration before now, Unix seconds or RFC 3339). A bad `until` fails before anything
    is removed."""
    from ketch.timestamps import parse_docker_time, parse_rfc3339

    untils = []
    for value in filters.get("until", []):
        try:
            untils.append(parse_docker_time(value, now))
        except ValueError:
            raise InvalidArgument(f"invalid filter 'until={value}'") from None

    def matches(image: Any) -> bool:
        labels = (image.config.get("config") or {}).get("Labels") or {}
        if not _labels_match(labels, filters.get("label", [])):
            return False
        if any(_labels_match(labels, [item]) for item in filters.get("label!", [])):
            return False
        created = parse_rfc3339(image.created) or 0.0
        return all(created <= until for until in untils)  # dockerd keeps those After(until)

    return matches
