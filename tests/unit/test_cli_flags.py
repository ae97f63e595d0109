"""The docker grammar of ketch's command-line parser."""

from __future__ import annotations

import pytest

from ketch.cli import flags
from ketch.cli.flags import BOOL, INT, LIST, STRING, Command, Flag

RUN_LIKE = Command(
    "run",
    "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "",
    [
        Flag("interactive", "interactive", "i"),
        Flag("tty", "tty", "t"),
        Flag("detach", "detach", "d"),
        Flag("rm", "rm"),
        Flag("env", "env", "e", LIST),
        Flag("publish", "publish", "p", LIST),
        Flag("name", "name", None, STRING),
        Flag("time", "time", None, INT),
        Flag("hostname", "hostname", "h", STRING),
    ],
    interspersed=False,
    min_args=1,
)
RM_LIKE = Command("rm", "rm [OPTIONS] CONTAINER", "", [Flag("force", "force", "f")], min_args=1)


@pytest.mark.parametrize(
    ("argv", "options", "args"),
    [
        (["-it", "alpine"], {"interactive": True, "tty": True}, ["alpine"]),
        (
            ["-dit", "alpine", "sh"],
            {"detach": True, "interactive": True, "tty": True},
            ["alpine", "sh"],
        ),
        (["-p8080:80", "x"], {"publish": ["8080:80"]}, ["x"]),
        (["-p", "1:2", "-p=3:4", "x"], {"publish": ["1:2", "3:4"]}, ["x"]),
        (["-ip", "80", "x"], {"interactive": True, "publish": ["80"]}, ["x"]),
        (["--name=web", "x"], {"name": "web"}, ["x"]),
        (["--name", "web", "x"], {"name": "web"}, ["x"]),
        (["--rm=false", "x"], {"rm": False}, ["x"]),
        (["--rm", "x"], {"rm": True}, ["x"]),
        (["-h", "box", "x"], {"hostname": "box"}, ["x"]),
        (["--time", "5", "x"], {"time": 5}, ["x"]),
        # The container's own flags pass through untouched after the image.
        (["alpine", "ls", "-l", "--rm"], {"rm": False}, ["alpine", "ls", "-l", "--rm"]),
        (["--", "alpine", "-x"], {}, ["alpine", "-x"]),
    ],
)
def test_run_grammar(argv: list[str], options: dict, args: list[str]) -> None:
    parsed = flags.parse(RUN_LIKE, argv)
    assert parsed.args == args
    for name, value in options.items():
        assert parsed.options[name] == value


def test_interspersed_commands_take_flags_after_arguments() -> None:
    parsed = flags.parse(RM_LIKE, ["web", "-f"])
    assert parsed.force is True
    assert parsed.args == ["web"]


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["--foo", "x"], "unknown flag: --foo", 125),
        (["-z", "x"], "unknown shorthand flag: 'z' in -z", 125),
        (["--name"], "flag needs an argument: --name", 125),
        (["-e"], "flag needs an argument: 'e' in -e", 125),
        (
            ["--rm=maybe", "x"],
            'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: '
            'parsing "maybe": invalid syntax',
            125,
        ),
        (
            ["--time", "soon", "x"],
            'invalid argument "soon" for "--time" flag: '
            'strconv.ParseInt: parsing "soon": invalid syntax',
            125,
        ),
        ([], "'ketch run' requires at least 1 argument", 1),
    ],
)
def test_errors_have_dockers_wording_and_status(argv: list[str], message: str, code: int) -> None:
    with pytest.raises(flags.UsageError) as caught:
        flags.parse(RUN_LIKE, argv)
    assert str(caught.value) == message
    assert caught.value.exit_code == code


def test_argument_counts() -> None:
    exact = Command("tag", "tag A B", "", [], min_args=2, max_args=2)
    with pytest.raises(flags.ArgumentCountError, match="'ketch tag' requires 2 arguments"):
        flags.parse(exact, ["a"])
    none = Command("ps", "ps", "", [], max_args=0)
    with pytest.raises(flags.ArgumentCountError, match="'ketch ps' accepts no arguments"):
        flags.parse(none, ["x"])


def test_help_is_recognised_without_arguments() -> None:
    assert flags.parse(RM_LIKE, ["--help"]).help
    assert flags.parse(RM_LIKE, ["-h"]).help
    # -h is --hostname for run, not help.
    assert flags.parse(RUN_LIKE, ["-h", "box", "x"]).help is False


def test_defaults() -> None:
    command = Command(
        "x",
        "x",
        "",
        [Flag("proxy", "sig-proxy", None, BOOL, True), Flag("tail", "tail", None, STRING, "all")],
    )
    parsed = flags.parse(command, [])
    assert parsed.proxy is True
    assert parsed.tail == "all"
