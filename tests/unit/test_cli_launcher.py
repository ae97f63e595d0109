"""scripts/write-launcher: the `ketch` command started without site, still finding ketch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ketch
from ketch.testing.fakeengine import FakeEngine

WRITE_LAUNCHER = Path(__file__).resolve().parents[2] / "scripts" / "write-launcher"


def test_the_launcher_runs_ketch_without_site(tmp_path: Path) -> None:
    launcher = tmp_path / "ketch"
    subprocess.run([sys.executable, str(WRITE_LAUNCHER), str(launcher)], check=True, timeout=60)
    assert os.access(launcher, os.X_OK)
    assert launcher.read_text().startswith(f"#!{Path(sys.executable).absolute()} -S\n")
    with FakeEngine() as engine:
        engine.answer("GET", "/containers/json", [])
        env = dict(os.environ, KETCH_HOST=engine.host, PYTHONPROFILEIMPORTTIME="1")
        done = subprocess.run([str(launcher), "ps"], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("CONTAINER ID ")
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "ketch.cli.ps" in imported
    # Started without site, `ps` needs none of these (each costs a millisecond or more).
    assert not {"site", "os", "re", "json", "enum", "socket", "collections"} & imported
    assert not launcher.with_name(".ketch.tmp").exists()


def test_the_launcher_prints_the_version(tmp_path: Path) -> None:
    launcher = tmp_path / "ketch"
    subprocess.run([sys.executable, str(WRITE_LAUNCHER), str(launcher)], check=True, timeout=60)
    done = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.stdout == f"Ketch version {ketch.__version__}, build python\n"
