"""`GET /images/json` filters: the same rows dockerd would keep."""

from __future__ import annotations

from typing import Any

import pytest

from ketch.errors import InvalidArgument
from ketch.images import filters


def row(tags: list[str], digests: list[str], created: int, **labels: str) -> dict[str, Any]:
    return {"RepoTags": tags, "RepoDigests": digests, "Created": created, "Labels": labels}


ROWS = [
    row(["busybox:latest", "busybox:1"], ["busybox@sha256:" + "a" * 64], 300, team="x"),
    row(["library-x/busybox:latest"], [], 200),
    row(["hello-world:latest"], ["hello-world@sha256:" + "b" * 64], 100),
    row([], [], 50),
]
CREATED = {"busybox": 300, "hello-world": 100}


def keep(raw: Any) -> list[dict[str, Any]]:
    return filters.apply(ROWS, filters.normalise(raw), CREATED.__getitem__)


def test_reference_by_name_narrows_tags_and_digests() -> None:
    [found] = keep({"reference": {"busybox": True}})
    assert found["RepoTags"] == ["busybox:latest", "busybox:1"]
    assert found["RepoDigests"] == ["busybox@sha256:" + "a" * 64]
    [tagged] = keep({"reference": ["busybox:1"]})
    assert tagged["RepoTags"] == ["busybox:1"] and tagged["RepoDigests"] == []


def test_reference_globs_stop_at_slashes() -> None:
    assert [r["RepoTags"] for r in keep({"reference": ["*box"]})] == [
        ["busybox:latest", "busybox:1"]
    ]
    assert len(keep({"reference": ["*/busybox"]})) == 1
    assert len(keep({"reference": ["*:latest"]})) == 2  # no `/` in either familiar form


def test_dangling_label_before_since() -> None:
    assert keep({"dangling": ["true"]}) == [ROWS[3]]
    assert len(keep({"dangling": {"false": True}})) == 3
    assert keep({"label": ["team=x"]}) == [ROWS[0]]
    assert keep({"label": ["team=y"]}) == []
    assert [r["Created"] for r in keep({"before": ["busybox"]})] == [200, 100, 50]
    assert [r["Created"] for r in keep({"since": ["hello-world"]})] == [300, 200]


@pytest.mark.parametrize(
    ("raw", "message"),
    [({"bogus": ["x"]}, "invalid filter 'bogus'"), ({"dangling": ["maybe"]}, "dangling=maybe")],
)
def test_bad_filters_are_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        filters.normalise(raw)
