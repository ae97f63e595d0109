from __future__ import annotations

import json
import os
from pathlib import Path

from ketch import atomicfile
from ketch.shim.spec import ExecSpec, ShimSpec
from ketch.shim.state import (
    STATE_FILE,
    is_same_process,
    proc_start_time,
    read_state,
    shim_alive,
)


def test_state_is_written_whole_and_read_back(tmp_path: Path) -> None:
    atomicfile.write_json(tmp_path / STATE_FILE, {"status": "running", "exit_code": None})
    atomicfile.write_json(tmp_path / STATE_FILE, {"status": "exited", "exit_code": 3})
    assert read_state(tmp_path) == {"status": "exited", "exit_code": 3}
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]
    assert json.loads((tmp_path / STATE_FILE).read_text())["exit_code"] == 3


def test_missing_or_torn_state_reads_as_none(tmp_path: Path) -> None:
    assert read_state(tmp_path) is None
    (tmp_path / STATE_FILE).write_text("{")
    assert read_state(tmp_path) is None


def test_a_reused_pid_is_not_the_same_process() -> None:
    start = proc_start_time(os.getpid())
    assert start is not None and start > 0
    assert is_same_process(os.getpid(), start)
    assert not is_same_process(os.getpid(), start + 1)
    assert not shim_alive({"shim_pid": os.getpid(), "shim_start_time": start - 1})
    assert not is_same_process(None, start)


def test_specs_round_trip_through_json() -> None:
    spec = ShimSpec(
        id="abc",
        bundle=Path("/b"),
        rootfs_mounts=[{"type": "bind", "source": "/r"}],
        state_dir=Path("/s"),
        socket_path=Path("/r/s.sock"),
        tty=True,
        log_path=None,
    )
    again = ShimSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    exec_spec = ExecSpec(id="e1", args=["ps"], user="1000:1000", tty=True)
    assert ExecSpec.from_dict(json.loads(json.dumps(exec_spec.to_dict()))) == exec_spec
