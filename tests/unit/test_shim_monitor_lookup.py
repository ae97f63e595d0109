"""Where the shim finds ketch-monitor, and the error of a spawn without it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ketch.shim.connection import RequestError
from ketch.shim.server import MONITOR, find_monitor


def test_found_next_to_the_python_running_ketch() -> None:
    # scripts/setup installs it there; the test suite runs from that environment.
    assert find_monitor() == os.path.join(os.path.dirname(sys.executable), MONITOR)


def test_else_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "bin"
    elsewhere.mkdir()
    (elsewhere / MONITOR).symlink_to(find_monitor())
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'empty'}:{elsewhere}")
    assert find_monitor() == str(elsewhere / MONITOR)


def test_missing_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RequestError) as caught:
        find_monitor()
    assert "ketch-monitor not found" in caught.value.message
    assert "make -C monitor" in caught.value.message
