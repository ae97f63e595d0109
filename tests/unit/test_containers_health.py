from __future__ import annotations

from pathlib import Path

from ketch.containers.health import HealthMonitor, fresh_health, probe_command
from ketch.containers.record import Container


def test_probe_commands() -> None:
    assert probe_command({"Test": ["CMD", "curl", "-f", "x"]}) == ["curl", "-f", "x"]
    assert probe_command({"Test": ["CMD-SHELL", "exit 0"]}) == ["/bin/sh", "-c", "exit 0"]
    assert probe_command({"Test": ["NONE"]}) is None
    assert probe_command(None) is None and probe_command({"Test": []}) is None


def make(tmp_path: Path, retries: int) -> tuple[HealthMonitor, list[str]]:
    container = Container(id="c" * 64, name="/c", created="", path="true", args=[],
                          config={"Healthcheck": {"Test": ["CMD", "true"], "Retries": retries}},
                          host_config={}, image_id="sha256:x", directory=tmp_path)  # fmt: skip
    container.state["Health"] = fresh_health()
    changes: list[str] = []
    monitor = HealthMonitor(container, None, lambda _c, status: changes.append(status))  # type: ignore[arg-type]
    return monitor, changes


def result(code: int) -> dict:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}


def test_failures_count_up_to_retries_and_a_success_resets(tmp_path: Path) -> None:
    monitor, changes = make(tmp_path, retries=3)
    for _ in range(2):
        monitor.record(result(1), in_start_period=False)
    health = monitor.container.state["Health"]
    assert (health["Status"], health["FailingStreak"]) == ("starting", 2)
    monitor.record(result(1), in_start_period=False)
    assert health["Status"] == "unhealthy"
    monitor.record(result(0), in_start_period=False)
    assert (health["Status"], health["FailingStreak"]) == ("healthy", 0)
    assert changes == ["unhealthy", "healthy"]
    for _ in range(7):
        monitor.record(result(0), in_start_period=False)
    assert len(health["Log"]) == 5
    assert (tmp_path / "config.v2.json").exists()  # every result is saved


def test_failures_in_the_start_period_do_not_count(tmp_path: Path) -> None:
    monitor, _ = make(tmp_path, retries=1)
    monitor.record(result(1), in_start_period=True)
    health = monitor.container.state["Health"]
    assert (health["Status"], health["FailingStreak"]) == ("starting", 0)
    monitor.record(result(1), in_start_period=False)
    assert health["Status"] == "unhealthy"
