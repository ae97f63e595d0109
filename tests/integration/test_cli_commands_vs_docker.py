"""The ketch CLI against the real docker CLI, both against one ketchd: the same command
gives the same output and exit status (ids and times aside where they must differ)."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.testing.commands import DOCKER, KETCH, unique

pytestmark = pytest.mark.skipif(not Path(DOCKER).exists(), reason="no docker CLI")


def run(program: str, env: dict[str, str], *args: str, cwd: Path | None = None,
        stdin: bytes | None = None) -> tuple[int, str, str]:  # fmt: skip
    done = subprocess.run([program, *args], env=env, capture_output=True, timeout=120,
                          cwd=cwd, input=stdin)  # fmt: skip
    out = done.stdout.decode(errors="replace")
    err = done.stderr.decode(errors="replace").replace("docker", "ketch").replace("Docker", "ketch")
    return done.returncode, out, err


def both(env: dict[str, str], *args: str, cwd: Path | None = None) -> tuple[tuple, tuple]:
    return run(KETCH, env, *args, cwd=cwd), run(DOCKER, env, *args, cwd=cwd)


def same(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    ours, theirs = both(env, *args)
    assert ours == theirs, args
    return ours


@pytest.fixture
def cli_env(env: dict[str, str], docker_env: dict[str, str]) -> dict[str, str]:
    """One environment both CLIs read: KETCH_HOST and DOCKER_HOST name the same ketchd."""
    merged = dict(env)
    merged["DOCKER_HOST"] = docker_env["DOCKER_HOST"]
    return merged


@pytest.fixture
def web(cli_env: dict[str, str]) -> Iterator[str]:
    name = unique("parity")
    for image in ("busybox", "hello-world"):
        assert run(KETCH, cli_env, "pull", "-q", image)[0] == 0
    script = "echo x > /new; rm /etc/group; sleep 300"
    code, _, err = run(KETCH, cli_env, "run", "-d", "--name", name, "busybox", "sh", "-c", script)
    assert code == 0, err
    try:
        yield name
    finally:
        run(KETCH, cli_env, "rm", "-f", name)


def test_read_commands_print_alike(cli_env: dict[str, str], web: str) -> None:
    time.sleep(0.5)  # the shell has made its changes
    for args in (
        ["top", web],
        ["container", "top", web],
        ["diff", web],
        ["history", "busybox"],
        ["history", "--no-trunc", "-H=false", "busybox"],
        ["history", "-q", "busybox"],
        ["image", "history", "--format", "{{json .}}", "busybox"],
        ["stats", "--no-stream", "--format", "{{.Name}} {{.ID}} {{.PIDs}}", web],
        ["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"],
        ["top", "no-such-container"],
        ["diff", "no-such-container"],
        ["history", "no-such-image"],
        ["stats", "--no-stream", "no-such-container"],
        ["top", "--bogus", web],
        ["diff", "--bogus", web],
        ["stats", "--bogus"],
        ["events", "--format", "{{.Nope"],
        ["system", "bogus"],
        ["export", "-o", "/no-such-dir/x.tar", web],
    ):
        same(cli_env, *args)
    code, out, _ = same(cli_env, "diff", web)
    assert code == 0 and "A /new" in out and "D /etc/group" in out


def test_events_print_alike(cli_env: dict[str, str], web: str) -> None:
    since = str(int(time.time()) - 60)
    until = str(int(time.time()) + 1)
    time.sleep(1.2)
    for fmt in (
        [],
        ["--format", "{{json .}}"],
        ["--format", "{{.Action}} {{.Actor.Attributes.name}}"],
    ):
        code, out, _ = same(cli_env, "events", "--since", since, "--until", until,
                            "-f", f"container={web}", *fmt)  # fmt: skip
        assert code == 0 and out
    assert same(cli_env, "system", "events", "--since", since, "--until", until,
                "--filter", f"container={web}", "--format", "json")[1]  # fmt: skip


def test_pause_unpause_rename_update(cli_env: dict[str, str], web: str) -> None:
    for program in (KETCH, DOCKER):
        assert run(program, cli_env, "pause", web) == (0, f"{web}\n", "")
        paused = run(program, cli_env, "pause", web)
        assert paused[0] == 1 and "is already paused" in paused[2]
        assert run(program, cli_env, "unpause", web) == (0, f"{web}\n", "")
    same(cli_env, "unpause", web)
    same(cli_env, "pause", "no-such-container")
    same(cli_env, "rename", web, web)
    same(cli_env, "rename", "no-such-container", "x")
    same(cli_env, "rename", web)
    same(cli_env, "update", web)
    same(cli_env, "update", "-m", "lots", web)
    assert same(cli_env, "update", "-m", "64m", "--memory-swap", "128m", web)[1] == f"{web}\n"
    same(cli_env, "update", "--pids-limit", "50", web, "no-such-container")
    inspect = json.loads(run(KETCH, cli_env, "inspect", web)[1])[0]["HostConfig"]
    assert (inspect["Memory"], inspect["PidsLimit"]) == (64 << 20, 50)
    renamed = web + "-renamed"
    for program, old, new in ((KETCH, web, renamed), (DOCKER, renamed, web)):
        assert run(program, cli_env, "rename", old, new) == (0, "", "")


def test_archives_alike(cli_env: dict[str, str], web: str, tmp_path: Path) -> None:
    # export and save: the same tars
    for program, name in ((KETCH, "ours"), (DOCKER, "theirs")):
        assert run(program, cli_env, "export", "-o", str(tmp_path / f"{name}-fs.tar"), web)[0] == 0
        assert run(program, cli_env, "save", "-o", str(tmp_path / f"{name}-img.tar"),
                   "busybox", "hello-world")[0] == 0  # fmt: skip
    for kind in ("fs", "img"):
        with tarfile.open(tmp_path / f"ours-{kind}.tar") as a, \
                tarfile.open(tmp_path / f"theirs-{kind}.tar") as b:  # fmt: skip
            assert sorted(a.getnames()) == sorted(b.getnames()), kind
    # load and import print alike (ids of imports differ by their creation time)
    same(cli_env, "load", "-i", str(tmp_path / "ours-img.tar"))
    same(cli_env, "load", "-q", "-i", str(tmp_path / "ours-img.tar"))
    same(cli_env, "load", "-i", str(tmp_path / "missing.tar"))
    tag = unique("imported")
    ours, theirs = both(cli_env, "import", "-m", "hi", str(tmp_path / "ours-fs.tar"), f"{tag}:1")
    assert ours[0] == theirs[0] == 0
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", ours[1]) and re.fullmatch(
        r"sha256:[0-9a-f]{64}\n", theirs[1]
    )
    same(cli_env, "import", str(tmp_path / "missing.tar"))
    committed = unique("committed")
    ours, theirs = both(cli_env, "commit", "-a", "me", "-m", "msg", web, f"{committed}:1")
    assert ours[0] == theirs[0] == 0 and ours[1].startswith("sha256:")
    same(cli_env, "commit", "no-such-container")
    history = same(cli_env, "history", "--format", "{{.Comment}}", f"{committed}:1")[1]
    assert history.splitlines()[0] == "msg"
    run(KETCH, cli_env, "rmi", f"{committed}:1", f"{tag}:1")


def test_cp_alike(cli_env: dict[str, str], web: str, tmp_path: Path) -> None:
    for name in ("ours", "theirs"):
        (tmp_path / name).mkdir()
    ours, theirs = (run(program, cli_env, "cp", f"{web}:/etc/hostname", f"{side}/h",
                        cwd=tmp_path)
                    for program, side in ((KETCH, "ours"), (DOCKER, "theirs")))  # fmt: skip
    assert ours == theirs == (0, "", "")
    assert (tmp_path / "ours/h").read_bytes() == (tmp_path / "theirs/h").read_bytes()
    ours, theirs = (run(program, cli_env, "cp", f"{web}:/etc", side, cwd=tmp_path)
                    for program, side in ((KETCH, "ours"), (DOCKER, "theirs")))  # fmt: skip
    assert ours == theirs == (0, "", "")
    assert sorted(p.name for p in (tmp_path / "ours/etc").iterdir()) == sorted(
        p.name for p in (tmp_path / "theirs/etc").iterdir()
    )
    (tmp_path / "up.txt").write_text("up\n")
    for program, target in ((KETCH, "/tmp/a.txt"), (DOCKER, "/tmp/b.txt")):
        assert run(program, cli_env, "cp", str(tmp_path / "up.txt"), f"{web}:{target}") == (
            0,
            "",
            "",
        )
    assert run(KETCH, cli_env, "exec", web, "cat", "/tmp/a.txt", "/tmp/b.txt")[1] == "up\nup\n"
    for args in (["cp", f"{web}:/no/such", str(tmp_path)],
                 ["cp", "no-such-container:/x", str(tmp_path)],
                 ["cp", str(tmp_path / "nothing"), f"{web}:/tmp"],
                 ["cp", f"{web}:/a", f"{web}:/b"], ["cp", "a", "b"], ["cp", "a"]):  # fmt: skip
        same(cli_env, *args)


def test_prunes_alike(cli_env: dict[str, str]) -> None:
    for program in (KETCH, DOCKER):
        name = unique("prune")
        assert run(program, cli_env, "create", "--name", name, "-l", "prune=me", "busybox")[0] == 0
        code, out, err = run(program, cli_env, "container", "prune", "-f", "--filter",
                             "label=prune=me")  # fmt: skip
        assert code == 0 and err == ""
        lines = out.splitlines()
        assert lines[0] == "Deleted Containers:" and re.fullmatch(r"[0-9a-f]{64}", lines[1])
        assert lines[-1].startswith("Total reclaimed space: ")
    same(cli_env, "container", "prune", "-f", "--filter", "label=prune=nothing-has-this")
    run(KETCH, cli_env, "image", "prune", "-f")  # what earlier tests left dangling
    assert same(cli_env, "image", "prune", "-f") == (0, "Total reclaimed space: 0B\n", "")
    same(cli_env, "container", "prune", "--bogus")
    assert same(cli_env, "container", "prune")[1].startswith("WARNING! This will remove all")
