"""Pure logic of the image service: progress text, tag store, dockerd's rmi rules, views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ketch.images import progress
from ketch.images.model import Image
from ketch.images.pull import Throttle
from ketch.images.references import TagStore
from ketch.images.service import is_id_prefix, is_single_reference, truncate_id
from ketch.images.views import history_view, inspect_view, summary_view, unix_time
from ketch.oci.reference import parse

IMAGE_ID = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (532, "532B"), (1000, "1kB"), (2479, "2.479kB"), (6875702, "6.876MB"),
     (1_500_000_000, "1.5GB")],
)  # fmt: skip
def test_human_size_is_go_units(size: int, text: str) -> None:
    assert progress.human_size(size) == text


def test_progress_bar_as_the_docker_daemon_formats_it() -> None:
    assert progress.progress_bar(2479, 2479) == "[" + "=" * 50 + ">]  2.479kB/2.479kB"
    half = progress.progress_bar(500, 1000)
    assert half == "[" + "=" * 25 + ">" + " " * 25 + "]     500B/1kB"
    assert progress.progress_bar(0, 0) == ""
    assert progress.progress_bar(2000, 1000).endswith("]      2kB")  # wonky totals hidden


def test_messages_have_dockers_keys() -> None:
    assert progress.status("Pull complete", "abc") == {
        "status": "Pull complete",
        "progressDetail": {},
        "id": "abc",
    }
    moving = progress.moving("Downloading", "abc", 1, 2)
    assert moving["progressDetail"] == {"current": 1, "total": 2}
    assert moving["progress"].startswith("[")
    assert progress.short_id(IMAGE_ID) == "ab" * 6


def test_throttle_lets_the_last_line_through_once() -> None:
    now = [0.0]
    throttle = Throttle(lambda: now[0])
    assert throttle.ready(final=False)
    assert not throttle.ready(final=False)
    now[0] = 0.2
    assert throttle.ready(final=False)
    assert throttle.ready(final=True)
    assert not throttle.ready(final=True)


def test_tag_store_persists_in_dockers_format(tmp_path: Path) -> None:
    path = tmp_path / "repositories.json"
    store = TagStore(path)
    store.set(parse("hello-world"), IMAGE_ID)
    store.set(parse("hello-world@sha256:" + "cd" * 32), IMAGE_ID)
    store.set(parse("localhost:5000/x/y:1"), IMAGE_ID)
    on_disk = json.loads(path.read_text())
    assert on_disk["Repositories"]["hello-world"] == {
        "hello-world:latest": IMAGE_ID,
        "hello-world@sha256:" + "cd" * 32: IMAGE_ID,
    }
    assert on_disk["Repositories"]["localhost:5000/x/y"] == {"localhost:5000/x/y:1": IMAGE_ID}
    reopened = TagStore(path)
    assert reopened.get(parse("docker.io/library/hello-world:latest")) == IMAGE_ID
    assert len(reopened.references_to(IMAGE_ID)) == 3
    assert reopened.delete(parse("hello-world"))
    assert not reopened.delete(parse("hello-world"))
    assert TagStore(path).get(parse("hello-world")) is None
    assert [p.name for p in tmp_path.iterdir()] == ["repositories.json"]  # no temp files left


def test_single_reference_rule() -> None:
    digest = "@sha256:" + "cd" * 32
    assert not is_single_reference([])
    assert is_single_reference([parse("a")])
    assert is_single_reference([parse("a"), parse("a" + digest, default_tag=False)])
    assert not is_single_reference([parse("a"), parse("b")])
    assert not is_single_reference([parse("a"), parse("b" + digest, default_tag=False)])


def test_id_prefix_rule() -> None:
    assert is_id_prefix(IMAGE_ID, "abab")
    assert is_id_prefix(IMAGE_ID, "sha256:abab")
    assert not is_id_prefix(IMAGE_ID, "hello-world")
    assert truncate_id(IMAGE_ID) == "ab" * 6


def image(history: list[dict[str, object]]) -> Image:
    return Image(
        id=IMAGE_ID,
        repo_tags=["x:1"],
        repo_digests=[],
        config={
            "architecture": "arm64",
            "variant": "v8",
            "os": "linux",
            "config": {"Cmd": ["sh"], "Labels": {"a": "b"}},
            "history": history,
        },
        chain_id=None,
        size=30,
        created="2023-11-14T22:13:20.123456789Z",
        diff_ids=["sha256:" + "11" * 32],
    )


def test_unix_time_takes_go_nanoseconds() -> None:
    assert unix_time("2023-11-14T22:13:20.123456789Z") == 1700000000
    assert unix_time("2023-11-14T23:13:20+01:00") == 1700000000
    assert unix_time(None) == 0 and unix_time("garbage") == 0


def test_history_marks_empty_layers_and_puts_the_id_on_top() -> None:
    rows = history_view(
        image(
            [
                {"created": "2023-11-14T22:13:20Z", "created_by": "ADD base"},
                {"created": "2023-11-14T22:13:20Z", "created_by": "ENV A=1", "empty_layer": True},
                {"created": "2023-11-14T22:13:20Z", "created_by": "RUN x"},
            ]
        ),
        [10, 20],
    )
    assert [(r["Id"], r["CreatedBy"], r["Size"]) for r in rows] == [
        (IMAGE_ID, "RUN x", 20),
        ("<missing>", "ENV A=1", 0),
        ("<missing>", "ADD base", 10),
    ]
    assert rows[0]["Tags"] == ["x:1"] and rows[1]["Tags"] is None


def test_inspect_and_summary_shapes() -> None:
    view = inspect_view(image([]))
    assert view["Config"]["Cmd"] == ["sh"] and view["Config"]["User"] == ""
    assert view["Variant"] == "v8" and view["Architecture"] == "arm64"
    assert view["RootFS"] == {"Type": "layers", "Layers": ["sha256:" + "11" * 32]}
    assert view["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    summary = summary_view(image([]))
    assert summary["Created"] == 1700000000
    assert summary["Labels"] == {"a": "b"} and summary["Containers"] == -1
