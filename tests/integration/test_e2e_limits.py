"""`--memory`, `--cpus` and `--pids-limit` as a user sets them, enforced by the kernel."""

from __future__ import annotations

from ketch.testing.commands import docker


def test_limits_reach_the_containers_cgroups(docker_env: dict[str, str]) -> None:
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
        " /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
        " /sys/fs/cgroup/pids/pids.max"
    )
    result = docker(docker_env, "run", "--rm", "-m", "48m", "--cpus", "0.5",
                    "--pids-limit", "30", "busybox", "sh", "-c", script)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split() == [str(48 * 1024 * 1024), "50000", "100000", "30"]


def test_pids_limit_stops_a_fork_bomb(docker_env: dict[str, str]) -> None:
    # Twenty background sleeps under a limit of 8 processes: the shell's forks
    # past the limit fail (EAGAIN), and it says so.
    script = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 30 & done"
    result = docker(docker_env, "run", "--rm", "--pids-limit", "8", "busybox", "sh", "-c", script)
    assert b"can't fork" in result.stderr, result.stderr.decode()
    unlimited = docker(docker_env, "run", "--rm", "busybox", "sh", "-c", script)
    assert b"can't fork" not in unlimited.stderr, unlimited.stderr.decode()


def test_memory_limit_kills_with_oom(docker_env: dict[str, str]) -> None:
    name = "oom-e2e"
    run = docker(docker_env, "run", "--name", name, "-m", "16m", "--memory-swap", "16m",
                 "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done")  # fmt: skip
    try:
        assert run.returncode == 137, run.stderr.decode()
        state = docker(docker_env, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}",
                       name)  # fmt: skip
        assert state.stdout.decode().strip() == "true 137"
    finally:
        docker(docker_env, "rm", "-f", name)
