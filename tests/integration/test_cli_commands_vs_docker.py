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
from typing import Any

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


@pytest.fixture
def volumes(cli_env: dict[str, str]) -> Iterator[list[str]]:
    """Names for the test's volumes, each removed at the end whoever made it."""
    made: list[str] = []
    try:
        yield made
    finally:
        for name in made:
            run(KETCH, cli_env, "volume", "rm", "-f", name)


def test_volume_commands_alike(cli_env: dict[str, str], volumes: list[str]) -> None:
    mark = unique("mark")
    name, tmpfs = unique("vol"), unique("voltmp")
    volumes += [name, tmpfs]
    for program in (KETCH, DOCKER):  # the second create finds the volume the first made
        assert run(program, cli_env, "volume", "create", "--label", f"mark={mark}", name) == (
            0, f"{name}\n", "")  # fmt: skip
    same(cli_env, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o",
         "o=size=1m", "--label", f"mark={mark}", tmpfs)  # fmt: skip
    assert same(cli_env, "volume", "ls", "-q", "--filter", f"label=mark={mark}")[1] == "".join(
        f"{each}\n" for each in sorted([name, tmpfs]))  # fmt: skip
    for args in (
        ["volume", "ls", "--filter", f"label=mark={mark}"],
        ["volume", "ls", "--filter", f"label=mark={mark}", "--format", "{{json .}}"],
        ["volume", "list", "-f", f"name={tmpfs}", "--format", "table {{.Name}}\t{{.Labels}}"],
        ["volume", "ls", "--filter", "bogus=1"],
        ["volume", "ls", "--format", "{{.Bad"],
        ["volume", "inspect", name, tmpfs],
        ["volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels}} {{.Options}}", tmpfs],
        ["volume", "inspect", "--format", "json", name],
        ["volume", "inspect", name, "no-such-volume"],
        ["volume", "rm", "no-such-volume"],
        ["volume", "create", "bad/name"],
        ["volume", "create", "--driver", "no-such-driver", unique("vol")],
        ["volume", "prune", "-f", "--filter", f"label=mark={mark}"],  # named ones stay
        ["volume", "prune", "-f", "--filter", "until=1h"],
        ["volume"],
        ["volume", "bogus"],
    ):
        same(cli_env, *args)
    # in use: docker's 409 and message, the same from both
    holder = unique("holder")
    code, _, err = run(KETCH, cli_env, "run", "-d", "--name", holder, "-v", f"{name}:/data",
                       "busybox", "sleep", "300")  # fmt: skip
    assert code == 0, err
    try:
        code, _, err = same(cli_env, "volume", "rm", name)
        assert code == 1 and "volume is in use" in err
    finally:
        run(KETCH, cli_env, "rm", "-f", holder)
    assert run(KETCH, cli_env, "volume", "rm", name) == (0, f"{name}\n", "")
    assert run(DOCKER, cli_env, "volume", "rm", "-f", tmpfs) == (0, f"{tmpfs}\n", "")


def test_volume_prune_all_alike(cli_env: dict[str, str], volumes: list[str]) -> None:
    reports = []
    for program in (KETCH, DOCKER):
        mark, name = unique("mark"), unique("vol")
        volumes.append(name)
        assert run(program, cli_env, "volume", "create", "--label", mark, name)[0] == 0
        code, out, err = run(program, cli_env, "volume", "prune", "-a", "-f", "--filter",
                             f"label={mark}")  # fmt: skip
        assert (code, err) == (0, "")
        reports.append(out.replace(name, "NAME"))
    assert reports[0] == reports[1] == "Deleted Volumes:\nNAME\n\nTotal reclaimed space: 0B\n"


def test_run_mounts_alike(cli_env: dict[str, str], volumes: list[str]) -> None:
    """-v, --mount and --volumes-from through either CLI reach the same volume."""
    name = unique("vol")
    volumes.append(name)
    writer = unique("writer")
    code, _, err = run(DOCKER, cli_env, "run", "--name", writer, "-v", f"{name}:/data", "busybox",
                       "sh", "-c", "echo from-docker > /data/x")  # fmt: skip
    assert code == 0, err
    try:
        mount = f"type=volume,source={name},target=/data,readonly"
        for program in (KETCH, DOCKER):
            assert run(program, cli_env, "run", "--rm", "--mount", mount, "busybox",
                       "cat", "/data/x") == (0, "from-docker\n", "")  # fmt: skip
            code, _, err = run(program, cli_env, "run", "--rm", "--mount", mount, "busybox",
                               "touch", "/data/y")  # fmt: skip
            assert code == 1 and "Read-only file system" in err
            assert run(program, cli_env, "run", "--rm", "--volumes-from", writer, "busybox",
                       "cat", "/data/x") == (0, "from-docker\n", "")  # fmt: skip
        same(cli_env, "run", "--rm", "--mount", "type=volume,target", "busybox")
    finally:
        run(KETCH, cli_env, "rm", "-f", writer)


def test_list_json_fields_alike(cli_env: dict[str, str], web: str, volumes: list[str]) -> None:
    """`{{json .}}` of ps and images: every field docker's formatter has, the same values
    (ps's RunningFor and Status aside: they move with the clock between the two runs)."""
    name = unique("vol")
    volumes.append(name)
    holder = unique("holder")
    assert run(KETCH, cli_env, "create", "--name", holder, "-v", f"{name}:/data", "-l", "a=b",
               "busybox")[0] == 0  # fmt: skip
    try:
        listed = []
        for program in (KETCH, DOCKER):
            code, out, err = run(program, cli_env, "ps", "-a", "--filter", f"name={holder}",
                                 "--format", "{{json .}}")  # fmt: skip
            assert code == 0, err
            row = json.loads(out)
            row.pop("RunningFor"), row.pop("Status")
            listed.append(row)
        assert listed[0] == listed[1]
        assert listed[0]["LocalVolumes"] == "1" and listed[0]["Size"].startswith("0B (virtual ")
        same(cli_env, "ps", "-a", "--filter", f"name={holder}", "--format",
             "{{.Names}} {{.Platform}} {{.LocalVolumes}} {{.Mounts}} {{.Size}}")  # fmt: skip
    finally:
        run(KETCH, cli_env, "rm", "-f", holder)
    for args in (
        ["images", "--format", "{{json .}}", "busybox"],
        ["images", "--digests", "--format", "{{json .}}", "busybox"],
        ["images", "--format", "{{.Repository}} {{.Digest}} {{.SharedSize}} {{.UniqueSize}}"],
        ["images", "--format", "table {{.ID}}\t{{.VirtualSize}}\t{{.Containers}}", "busybox"],
    ):
        same(cli_env, *args)


def test_push_to_another_repository_and_to_an_empty_registry(
    cli_env: dict[str, str], hub_mirror: Any, tmp_path: Path
) -> None:
    """busybox came from the mirror's library/busybox; pushed to other/repo of the same
    registry (its blobs are there under another repository) and to an empty registry,
    through both CLIs, then pulled back from each."""
    from ketch.testing.registry import run_registry

    with run_registry(tmp_path) as empty:
        for host in (hub_mirror.host_port, empty.host_port):
            for program in (KETCH, DOCKER):
                target = f"{host}/other/{unique('repo')}:1"
                assert run(program, cli_env, "tag", "busybox", target)[0] == 0
                try:
                    code, out, err = run(program, cli_env, "push", target)
                    assert (code, err) == (0, ""), (program, out, err)
                    assert re.search(r"^1: digest: sha256:[0-9a-f]{64} size: \d+$", out, re.M)
                    assert run(KETCH, cli_env, "rmi", target)[0] == 0
                    code, out, err = run(program, cli_env, "pull", target)
                    assert code == 0, (program, out, err)
                finally:
                    run(KETCH, cli_env, "rmi", target)
