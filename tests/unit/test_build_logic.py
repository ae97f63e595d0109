"""The builder's pure parts: ARG scoping, config changes and their history comments, Go's
formatting, which stages a target needs, the cache index, mount points kept out of layers."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from ketch import errors
from ketch.build import gofmt, plan
from ketch.build import instructions as ins
from ketch.build.args import BuildArgs, unused_warning
from ketch.build.cache import CacheIndex, step_key
from ketch.build.executor import make_directory, registry_auth, run_argv
from ketch.build.metadata import ConfigChanges, nop_comment
from ketch.build.mountpoints import drop_mount_points
from ketch.build.state import StageState, docker_config

AT = ins.Location("Dockerfile", 1, 1)


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    return re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), word)


def expand_words(word: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    return expand(word, env).split()


CHANGES = ConfigChanges(expand, expand_words)


def stage(args: dict[str, str | None] | None = None) -> StageState:
    state = StageState(BuildArgs(dict(args or {})))
    state.begin(None, None)
    return state


def test_meta_args_need_an_arg_in_the_stage_and_build_args_win() -> None:
    top = BuildArgs({"V": "given", "HTTP_PROXY": "http://p", "LOST": "x"})
    top.add_meta("V", "default")
    top.add_meta("ONLY_META", "m")
    assert top.all_meta() == {"V": "given", "ONLY_META": "m", "HTTP_PROXY": "http://p"}
    inner = top.for_stage()
    assert inner.all_allowed() == {"HTTP_PROXY": "http://p"}  # proxies need no ARG
    inner.add("ONLY_META", None)
    inner.add("OWN", "d")
    assert inner.all_allowed() == {"ONLY_META": "m", "OWN": "d", "HTTP_PROXY": "http://p"}
    assert not inner.recorded("HTTP_PROXY") and inner.recorded("OWN")
    assert inner.not_in_env(["OWN=from-env"]) == {"ONLY_META": "m", "HTTP_PROXY": "http://p"}
    top.merge_referenced(inner)
    assert top.unused() == ["LOST"]
    assert unused_warning(["A", "B"]) == (
        "[Warning] One or more build-args [A B] were not consumed\n"
    )


def test_config_changes_and_their_comments() -> None:
    state = stage({"WHO": "me"})
    state.args.add("WHO", "nobody")
    env = ins.Env(keyword="ENV", original="", location=AT, pairs=(("A", "x-$WHO"), ("B", "2")))
    assert CHANGES.apply(env, state) == "ENV A=x-me B=2"
    assert state.run_config["Env"][-2:] == ["A=x-me", "B=2"]
    again = ins.Env(keyword="ENV", original="", location=AT, pairs=(("A", "y"),))
    CHANGES.apply(again, state)
    assert "A=y" in state.run_config["Env"] and "A=x-me" not in state.run_config["Env"]
    cmd = ins.Cmd(keyword="CMD", original="", location=AT,
                  command=ins.Command(("echo $A",), shell_form=True))  # fmt: skip
    assert CHANGES.apply(cmd, state) == 'CMD ["/bin/sh" "-c" "echo $A"]'
    entry = ins.Entrypoint(keyword="ENTRYPOINT", original="", location=AT,
                           command=ins.Command(("top",), shell_form=False))  # fmt: skip
    CHANGES.apply(entry, state)
    assert state.run_config["Cmd"] == ["/bin/sh", "-c", "echo $A"]  # CMD was set here
    fresh = stage()
    fresh.run_config["Cmd"] = ["sh"]  # the base image's
    CHANGES.apply(entry, fresh)
    assert fresh.run_config["Cmd"] is None and fresh.run_config["Entrypoint"] == ["top"]
    expose = ins.Expose(keyword="EXPOSE", original="", location=AT, ports=("80", "53/udp"))
    assert CHANGES.apply(expose, state) == "EXPOSE 80 53/udp"
    assert state.run_config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    volume = ins.Volume(keyword="VOLUME", original="", location=AT, paths=("/data",))
    assert CHANGES.apply(volume, state) == "VOLUME [/data]"
    shell = ins.Shell(keyword="SHELL", original="", location=AT, args=("/bin/ash", "-c"))
    assert CHANGES.apply(shell, state) == "SHELL [/bin/ash -c]"
    assert state.shell == ["/bin/ash", "-c"]
    signal = ins.Stopsignal(keyword="STOPSIGNAL", original="", location=AT, signal="SIGQUIT")
    assert CHANGES.apply(signal, state) == "STOPSIGNAL SIGQUIT"
    with pytest.raises(errors.InvalidArgument):
        CHANGES.apply(ins.Stopsignal(keyword="STOPSIGNAL", original="", location=AT,
                                     signal="SIGNOPE"), state)  # fmt: skip
    check = ins.Healthcheck(keyword="HEALTHCHECK", original="", location=AT,
                            test=("CMD", "true"), interval="1m30s", timeout="500ms")  # fmt: skip
    assert CHANGES.apply(check, state) == (
        "HEALTHCHECK &{Test:[CMD true] Interval:1m30s Timeout:500ms StartPeriod:0s "
        "StartInterval:0s Retries:0}"
    )
    assert state.run_config["Healthcheck"] == {
        "Test": ["CMD", "true"], "Interval": 90_000_000_000, "Timeout": 500_000_000
    }
    arg = ins.Arg(keyword="ARG", original="", location=AT, name="N", default="$WHO-1")
    assert CHANGES.apply(arg, state) == "ARG N=me-1"
    onbuild = ins.Onbuild(keyword="ONBUILD", original="", location=AT, expression="RUN make")
    assert CHANGES.apply(onbuild, state) == "ONBUILD RUN make"
    assert " ".join(nop_comment(state.shell, "ONBUILD RUN make")) == (
        "/bin/ash -c #(nop)  ONBUILD RUN make"
    )


def test_docker_config_has_dockers_keys_in_order() -> None:
    state = stage()
    state.run_config["Cmd"] = ["sh"]
    state.run_config["Unknown"] = 1
    config = state.committed_config()
    assert list(config) == [
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
        "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir",
        "Entrypoint", "OnBuild", "Labels",
    ]  # fmt: skip
    assert config["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert docker_config({"Shell": ["a"]})["Shell"] == ["a"]


def test_go_formatting() -> None:
    assert gofmt.quoted_list(['a"b', "c\n"]) == '["a\\"b" "c\\n"]'
    assert gofmt.plain_list(None) == "[]"
    assert [gofmt.duration(n) for n in (0, 1500, 2_000_000, 3_600_000_000_000, 61_500_000_000)] \
        == ["0s", "1.5µs", "2ms", "1h0m0s", "1m1.5s"]  # fmt: skip


def test_run_command_lines() -> None:
    run = ins.Run(keyword="RUN", original="", location=AT,
                  command=ins.Command(("make all",), shell_form=True))  # fmt: skip
    assert run_argv(run, ["/bin/sh", "-c"]) == ["/bin/sh", "-c", "make all"]
    script = ins.Run(keyword="RUN", original="", location=AT,
                     command=ins.Command(("<<EOF",), shell_form=True),
                     heredocs=(ins.Heredoc("EOF", "echo a\necho b\n"),))  # fmt: skip
    assert run_argv(script, ["/bin/sh", "-c"]) == ["/bin/sh", "-c", "echo a\necho b\n"]
    fed = ins.Run(keyword="RUN", original="", location=AT,
                  command=ins.Command(("cat <<EOF > /x",), shell_form=True),
                  heredocs=(ins.Heredoc("EOF", "hi\n"),))  # fmt: skip
    assert run_argv(fed, ["/bin/sh", "-c"]) == ["/bin/sh", "-c", "cat <<EOF > /x\nhi\nEOF"]


def dockerfile(*stages: tuple[str, str | None, tuple[ins.Instruction, ...]]) -> ins.Dockerfile:
    return ins.Dockerfile(stages=tuple(
        ins.Stage(i, ins.From(keyword="FROM", original="", location=AT, image=image, name=name),
                  steps)
        for i, (image, name, steps) in enumerate(stages)
    ))  # fmt: skip


def copy_from(name: str) -> ins.Copy:
    return ins.Copy(keyword="COPY", original="", location=AT, sources=("/x",), dest="/",
                    from_=name)  # fmt: skip


def test_a_target_builds_the_stages_it_names() -> None:
    file = dockerfile(
        ("busybox", "a", ()), ("busybox", "b", ()), ("$BASE", "c", ()),
        ("c", "d", (copy_from("0"),)), ("busybox", "e", ()),
    )  # fmt: skip
    meta = {"BASE": "b"}
    chosen = plan.stages_to_build(file, "D", lambda w: expand(w, meta))
    assert [s.name for s in chosen] == ["a", "b", "c", "d"]  # not e
    assert len(plan.stages_to_build(file, None, lambda w: w)) == 5
    with pytest.raises(errors.InvalidArgument, match='target stage "z" could not be found'):
        plan.stages_to_build(file, "z", lambda w: w)
    twice = dockerfile(("busybox", "a", ()), ("busybox", "a", ()))
    with pytest.raises(errors.InvalidArgument, match="a stage name already used"):
        plan.stages_to_build(twice, None, lambda w: w)


def test_cache_index_round_trip(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "cache.json")
    key = step_key("sha256:parent", "run", ["/bin/sh", "-c", "make"])
    assert key != step_key("sha256:parent", "run", ["/bin/sh", "-c", "make "])
    index.put(key, "sha256:child", "sha256:parent", "/bin/sh -c make", 10)
    index.used(key)
    again = CacheIndex(tmp_path / "cache.json")
    record = again.get(key)
    assert record is not None and record.image == "sha256:child" and record.usage == 2
    again.drop([key])
    assert CacheIndex(tmp_path / "cache.json").get(key) is None


def test_mount_points_stay_out_of_a_layer(tmp_path: Path) -> None:
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    os.chmod(lower / "etc", 0o755)
    (upper / "etc").mkdir(parents=True)
    os.chmod(upper / "etc", 0o755)
    (upper / "etc/hosts").touch()
    (upper / "cache").mkdir()
    (upper / "keep").mkdir()
    (upper / "keep/file").write_text("x")
    drop_mount_points(upper, [lower], ["/cache", "/keep"])
    assert sorted(os.listdir(upper)) == ["keep"]


def test_make_directory_stays_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "usr").mkdir()
    (tmp_path / "link").symlink_to("/usr")
    (tmp_path / "escape").symlink_to("../../..")
    make_directory(tmp_path, "/link/app/sub")
    assert (tmp_path / "usr/app/sub").is_dir()
    make_directory(tmp_path, "/escape/x")
    assert (tmp_path / "x").is_dir()


def test_registry_auth_by_host() -> None:
    auths = {"https://index.docker.io/v1/": {"username": "hub"}, "reg:5000": {"username": "r"}}
    assert registry_auth(auths, "docker.io") == {"username": "hub"}
    assert registry_auth(auths, "reg:5000") == {"username": "r"}
    assert registry_auth(auths, "other") is None
