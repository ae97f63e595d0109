"""`commit --change` / `import --change`: Dockerfile instructions on a config."""

from __future__ import annotations

import pytest

from ketch.containers.changes import apply_changes
from ketch.errors import InvalidArgument


def test_each_change_command_sets_its_field() -> None:
    base = {"Env": ["A=1"], "Cmd": ["sh"], "WorkingDir": "/srv"}
    changed = apply_changes(base, [
        "EXPOSE 8000", 'CMD ["bash"]', "ENV B=$A", "WORKDIR app", "LABEL a=b", "USER u",
        "VOLUME /v", "STOPSIGNAL SIGTERM", "ONBUILD RUN make", "HEALTHCHECK CMD true",
    ])  # fmt: skip
    assert changed["ExposedPorts"] == {"8000/tcp": {}}
    assert changed["Cmd"] == ["bash"]
    assert changed["Env"] == ["A=1", "B=1"]  # $A from the config's own Env
    assert changed["WorkingDir"] == "/srv/app"
    assert changed["Labels"] == {"a": "b"} and changed["User"] == "u"
    assert changed["Volumes"] == {"/v": {}} and changed["StopSignal"] == "SIGTERM"
    assert changed["OnBuild"] == ["RUN make"]
    assert changed["Healthcheck"] == {"Test": ["CMD-SHELL", "true"]}
    assert base == {"Env": ["A=1"], "Cmd": ["sh"], "WorkingDir": "/srv"}  # a copy changed


def test_entrypoint_resets_the_cmd_unless_a_change_set_it() -> None:
    assert apply_changes({"Cmd": ["sh"]}, ['ENTRYPOINT ["top"]'])["Cmd"] is None
    kept = apply_changes({"Cmd": ["sh"]}, ['CMD ["-b"]', 'ENTRYPOINT ["top"]'])
    assert kept["Cmd"] == ["-b"] and kept["Entrypoint"] == ["top"]


def test_instructions_that_are_not_config_changes_are_refused_in_dockers_words() -> None:
    with pytest.raises(InvalidArgument, match="^run is not a valid change command$"):
        apply_changes({}, ["RUN make"])
    with pytest.raises(InvalidArgument, match="^dockerfile parse error on line 1: unknown "):
        apply_changes({}, ["NOPE x"])
