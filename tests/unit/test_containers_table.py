"""The container table's names: one held by a create under way is taken for everyone else."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch import errors
from ketch.containers.entry import Entry
from ketch.containers.record import Container
from ketch.containers.table import ContainerTable


def _entry(container_id: str, name: str) -> Entry:
    return Entry(Container(id=container_id, name=name, created="", path="true", args=[],
                           config={}, host_config={}, image_id="sha256:" + "0" * 64,
                           directory=Path("/nonexistent")))  # fmt: skip


def test_a_reserved_name_is_taken_until_its_container_is_added() -> None:
    table = ContainerTable()
    table.reserve_name("/web", "a" * 64)
    with pytest.raises(errors.Conflict, match=f'in use by container "{"a" * 64}"'):
        table.check_name_free("/web")
    with pytest.raises(errors.Conflict):
        table.reserve_name("/web", "b" * 64)
    table.add(_entry("a" * 64, "/web"))  # its own reservation is no conflict
    assert table.get("web").id == "a" * 64
    with pytest.raises(errors.Conflict):
        table.add(_entry("b" * 64, "/web"))


def test_a_released_name_is_free_again_and_only_its_holder_releases_it() -> None:
    table = ContainerTable()
    table.reserve_name("/web", "a" * 64)
    table.release_name("/web", "b" * 64)  # not its holder: still held
    with pytest.raises(errors.Conflict):
        table.check_name_free("/web")
    table.release_name("/web", "a" * 64)
    table.check_name_free("/web")
    with pytest.raises(errors.NotFound):
        table.get("web")  # a reservation is no container


def test_fresh_names_avoid_reserved_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    from ketch.containers import names

    table = ContainerTable()
    table.reserve_name("/taken_name", "a" * 64)
    offered = iter(["taken_name", "free_name"])
    monkeypatch.setattr(names, "random_name", lambda retry=0: next(offered))
    assert table.fresh_name() == "/free_name"
