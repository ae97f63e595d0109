from __future__ import annotations

from pathlib import Path

import pytest

from ketch.runtime.users import (
    ExecLookupError,
    lookup_executable,
    parse_group,
    parse_passwd,
    path_from_env,
    resolve_user,
)

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\nbad line\n"
GROUP = "root:x:0:\nwheel:x:10:app,other\napp:x:1001:\nstaff:x:50:app\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin/tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "bin/data").write_text("not executable")
    return tmp_path


def test_parsers_skip_malformed_lines() -> None:
    assert parse_passwd(PASSWD) == [("root", 0, 0, "/root"), ("app", 1000, 1001, "/home/app")]
    assert ("wheel", 10, ["app", "other"]) in parse_group(GROUP)


@pytest.mark.parametrize(
    ("spec", "uid", "gid", "groups"),
    [
        ("", 0, 0, []),
        ("app", 1000, 1001, [10, 50]),
        ("1000", 1000, 1001, [10, 50]),
        ("app:staff", 1000, 50, [10]),
        ("4242", 4242, 0, []),
        ("4242:7", 4242, 7, []),
    ],
)
def test_resolve_user(root: Path, spec: str, uid: int, gid: int, groups: list[int]) -> None:
    user = resolve_user(spec, str(root))
    assert (user.uid, user.gid, user.additional_gids) == (uid, gid, groups)


def test_unknown_user_is_worded_as_docker(root: Path) -> None:
    with pytest.raises(ExecLookupError, match="unable to find user nobody2: no matching entries"):
        resolve_user("nobody2", str(root))


def test_lookup_searches_path_inside_root(root: Path) -> None:
    assert lookup_executable("tool", "/usr/bin:/bin", str(root)) == "/bin/tool"
    assert lookup_executable("/bin/tool", None, str(root)) == "/bin/tool"


def test_missing_command_is_127_with_dockers_words(root: Path) -> None:
    with pytest.raises(ExecLookupError) as caught:
        lookup_executable("nope", "/bin", str(root))
    assert caught.value.message == 'exec: "nope": executable file not found in $PATH'
    assert caught.value.exit_code == 127
    with pytest.raises(ExecLookupError) as caught:
        lookup_executable("data", "/bin", str(root))  # not executable: not a match
    assert caught.value.exit_code == 127


def test_not_executable_path_is_126(root: Path) -> None:
    with pytest.raises(ExecLookupError) as caught:
        lookup_executable("/bin/data", None, str(root))
    assert caught.value.exit_code == 126
    assert caught.value.message == 'exec: "/bin/data": permission denied'
    with pytest.raises(ExecLookupError) as caught:
        lookup_executable("/bin", None, str(root))
    assert caught.value.exit_code == 126


def test_missing_path_with_slash_is_127(root: Path) -> None:
    with pytest.raises(ExecLookupError) as caught:
        lookup_executable("/bin/gone", None, str(root))
    assert caught.value.exit_code == 127
    assert "no such file or directory" in caught.value.message


def test_path_from_env() -> None:
    assert path_from_env(["A=1", "PATH=/x:/y"]) == "/x:/y"
    assert path_from_env(["A=1"]) is None
