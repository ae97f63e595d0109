"""bench/scale.py --quick, as CI runs it: every ketch measure runs, and it exits 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCALE = Path(__file__).resolve().parents[2] / "bench" / "scale.py"
ROWS = [
    "idle engine memory",
    "memory per running container",
    "run -d x5 in a row",
    "ps, 5 running",
    "run -d x5, 8 clients",
    "run --rm hello-world",
    "pull, large image, vs docker",
    "pull, large image, vs skopeo",
    "push, large image",
    "ketchd memory per created container, 20",
    "ps -a per container, 20 created",
    "inspect of one, 20 created",
]


def leftovers() -> set[Path]:
    return set(Path("/tmp").glob("ketch-scale-*"))


def test_quick_mode_measures_every_ketch_row() -> None:
    before = leftovers()
    result = subprocess.run([sys.executable, str(SCALE), "--quick"], capture_output=True,
                            text=True, timeout=240)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    cells = {line.split("  ")[0]: re.split(r"\s{2,}", line.strip())
             for line in result.stdout.splitlines()}  # fmt: skip
    for row in ROWS:
        found = [v for title, v in cells.items() if title.startswith(row)]
        assert len(found) == 1, f"no row {row!r} in:\n{result.stdout}"
        ketch = found[0][2]  # measure, unit, ketch, docker, ...
        assert float(ketch) > 0, found[0]
        assert found[0][3] == "-", "--quick starts no competitor"
    assert leftovers() <= before, "its temporary directory is removed"
