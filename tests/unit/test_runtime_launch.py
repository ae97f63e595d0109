"""The status line a container's process leaves on its pipe, and the errors it maps to."""

from __future__ import annotations

import os

import pytest

from ketch.runtime.launch import (
    LaunchError,
    error_of,
    exec_error,
    parse_report,
    read_report,
    setup_error,
)


def test_nothing_on_the_pipe_means_execve_closed_it() -> None:
    assert parse_report(b"") is None


def test_a_json_line_is_the_report() -> None:
    assert parse_report(b'{"ready": true}\n') == {"ready": True}
    line = b'{"error": "exec: \\"nope\\": not found", "exit_code": 127}\n'
    assert parse_report(line) == {"error": 'exec: "nope": not found', "exit_code": 127}


@pytest.mark.parametrize("data", [b'{"error": "cut sh', b"Traceback: boom\n", b"[1, 2]\n"])
def test_anything_else_is_an_error_in_its_own_words(data: bytes) -> None:
    report = parse_report(data)
    assert report == {"error": data.decode().strip()}


def test_setup_is_done_only_when_the_init_says_ready() -> None:
    assert setup_error({"ready": True}) is None
    died = setup_error(None)
    assert died is not None and died.message == "container init exited during setup"
    assert died.exit_code is None
    failed = setup_error({"error": "container init: no such file", "exit_code": 126})
    assert failed is not None
    assert (failed.message, failed.exit_code) == ("container init: no such file", 126)


def test_a_started_process_said_nothing() -> None:
    assert exec_error(None, "exec failed") is None
    error = exec_error({"error": "unable to start container process", "exit_code": 126}, "x")
    assert error is not None and error.exit_code == 126
    bare = exec_error({}, "exec failed")
    assert bare is not None and (bare.message, bare.exit_code) == ("exec failed", None)


def test_an_exit_code_that_is_not_a_number_is_dropped() -> None:
    error = error_of({"error": "odd", "exit_code": "126"}, "fallback")
    assert (error.message, error.exit_code) == ("odd", None)


def test_reading_stops_at_the_line_not_at_end_of_file() -> None:
    read_end, write_end = os.pipe()
    try:
        # The init stays alive after its ready line, holding the pipe open.
        os.write(write_end, b'{"ready": true}\n')
        assert read_report(read_end, 1.0) == {"ready": True}
        with pytest.raises(LaunchError, match="timed out"):
            read_report(read_end, 0.05)
        os.write(write_end, b'{"error": "half')
        os.close(write_end)
        write_end = -1
        assert read_report(read_end, 1.0) == {"error": '{"error": "half'}
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
