"""build/parser.py: Dockerfiles into typed stages as Docker parses them, with its messages.
The cases follow the Dockerfile reference's examples and Docker's parser's own behaviour."""

from __future__ import annotations

import pytest

from ketch.build.instructions import (
    Arg,
    Cmd,
    Command,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    Label,
    Location,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from ketch.build.parser import DockerfileError, parse, parse_trigger
from ketch.errors import InvalidArgument


def steps(text: str) -> tuple[Instruction, ...]:
    """The first stage's instructions of `FROM scratch` followed by `text`."""
    return parse("FROM scratch\n" + text).stages[0].instructions


def one(text: str) -> Instruction:
    (instruction,) = steps(text)
    return instruction


def error_of(text: str, file: str = "Dockerfile") -> str:
    with pytest.raises(DockerfileError) as caught:
        parse(text, file)
    return caught.value.message


def step_error(text: str) -> str:
    """The message for `text` as line 2, after `FROM scratch`."""
    return error_of("FROM scratch\n" + text)


def shell(text: str) -> Command:
    return Command(args=(text,), shell_form=True)


def exec_form(*args: str) -> Command:
    return Command(args=args, shell_form=False)


# --- the file as a whole ---------------------------------------------------------------

def test_a_simple_file() -> None:
    dockerfile = parse("FROM busybox\nRUN echo hi\nCMD [\"sh\"]\n")
    (stage,) = dockerfile.stages
    assert stage.index == 0 and stage.name is None
    assert stage.base == From(keyword="FROM", original="FROM busybox",
                              location=Location("Dockerfile", 1, 1), image="busybox")
    assert stage.instructions == (
        Run(keyword="RUN", original="RUN echo hi", location=Location("Dockerfile", 2, 2),
            command=shell("echo hi")),
        Cmd(keyword="CMD", original='CMD ["sh"]', location=Location("Dockerfile", 3, 3),
            command=exec_form("sh")),
    )
    assert dockerfile.escape == "\\" and dockerfile.syntax is None
    assert dockerfile.meta_args == () and dockerfile.warnings == ()


def test_stages_and_meta_args() -> None:
    dockerfile = parse(
        "ARG BASE=alpine\nARG TAG\nFROM $BASE:$TAG AS Build\nRUN make\n"
        "FROM scratch\nARG BASE\nCOPY --from=build /out /\n")
    assert [(a.name, a.default) for a in dockerfile.meta_args] == [("BASE", "alpine"),
                                                                   ("TAG", None)]
    first, second = dockerfile.stages
    assert (first.index, first.name, first.base.image) == (0, "build", "$BASE:$TAG")
    assert [i.keyword for i in first.instructions] == ["RUN"]
    assert (second.index, second.name, second.base.image) == (1, None, "scratch")
    assert [i.keyword for i in second.instructions] == ["ARG", "COPY"]


def test_keywords_are_case_insensitive() -> None:
    dockerfile = parse("from busybox as One\nrun echo hi\nCoPy a b\n")
    assert dockerfile.stages[0].name == "one"
    assert [i.keyword for i in dockerfile.stages[0].instructions] == ["RUN", "COPY"]
    assert dockerfile.stages[0].instructions[0].original == "run echo hi"


def test_location_spans_continuations_and_heredocs() -> None:
    dockerfile = parse("FROM a\n\nRUN one \\\n  two\nRUN <<EOF\nx\nEOF\nUSER me\n", "my.df")
    run1, run2, user = dockerfile.stages[0].instructions
    assert run1.location == Location("my.df", 3, 4)
    assert run2.location == Location("my.df", 5, 7)
    assert user.location == Location("my.df", 8, 8)


def test_empty_file() -> None:
    assert error_of("") == "the Dockerfile (Dockerfile) cannot be empty"
    assert error_of("", "dev.Dockerfile") == "the Dockerfile (dev.Dockerfile) cannot be empty"


@pytest.mark.parametrize("text", ["\n", "# Hello\n# These are just comments\n\n", "  \n\t\n"])
def test_no_instructions(text: str) -> None:
    assert error_of(text) == "failed to parse Dockerfile: file with no instructions"


def test_no_from() -> None:
    assert error_of("RUN echo hi\n") == "no build stage in current context"
    assert error_of("ARG A\nENV B=1\n") == "no build stage in current context"


def test_only_meta_args() -> None:
    assert error_of("ARG A=1\n") == "No image was generated. Is your Dockerfile empty?"


def test_errors_are_invalid_argument_with_a_location() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse("FROM a\n\nRUNN x \\\n y\n", "other.Dockerfile")
    error = caught.value
    assert isinstance(error, DockerfileError)
    assert error.status == 400
    assert (error.file, error.line, error.end_line) == ("other.Dockerfile", 3, 4)
    assert error.message == "dockerfile parse error on line 3: unknown instruction: RUNN " \
        "(did you mean RUN?)"


@pytest.mark.parametrize(("line", "message"), [
    ("RUNN x", "unknown instruction: RUNN (did you mean RUN?)"),
    ("runn x", "unknown instruction: runn (did you mean run?)"),
    ("Runn x", "unknown instruction: Runn (did you mean run?)"),
    ("FOO bar", "unknown instruction: FOO (did you mean FROM?)"),
    ("NOSUCH x", "unknown instruction: NOSUCH"),
    ("COPPY a b", "unknown instruction: COPPY (did you mean COPY?)"),
    ("ENTRYPIONT x", "unknown instruction: ENTRYPIONT (did you mean ENTRYPOINT?)"),
])
def test_unknown_instruction(line: str, message: str) -> None:
    assert step_error(line) == f"dockerfile parse error on line 2: {message}"


def test_bom_is_dropped() -> None:
    assert parse("\ufeffFROM a\n").stages[0].base.image == "a"


def test_crlf_line_endings() -> None:
    dockerfile = parse("FROM a\r\nRUN echo \\\r\n  hi\r\nENV A=1\r\n")
    run, env = dockerfile.stages[0].instructions
    assert run == Run(keyword="RUN", original="RUN echo   hi",
                      location=Location("Dockerfile", 2, 3), command=shell("echo   hi"))
    assert isinstance(env, Env) and env.pairs == (("A", "1"),)


def test_leading_whitespace_and_comments() -> None:
    run, user = steps("   # a comment\n\n    RUN  a   b  \n\t  USER me # not a comment\n")
    assert run.original == "RUN  a   b" and isinstance(run, Run)
    assert run.command == shell("a   b")
    assert isinstance(user, User) and user.user == "me # not a comment"


# --- directives ------------------------------------------------------------------------

def test_escape_directive_backtick() -> None:
    # The reference's Windows example: with ` as the escape, c:\ is a path.
    dockerfile = parse("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\n"
                       "RUN dir c:\\\n")
    assert dockerfile.escape == "`"
    copy, run = dockerfile.stages[0].instructions
    assert isinstance(copy, Copy) and (copy.sources, copy.dest) == (("testfile.txt",), "c:\\")
    assert isinstance(run, Run) and run.command == shell("dir c:\\")


def test_without_the_escape_directive_backslash_continues() -> None:
    # The same file without the directive: the two lines join, as the reference shows.
    (copy,) = steps("COPY testfile.txt c:\\\nRUN dir c:\\\n")
    assert isinstance(copy, Copy)
    assert copy.original == "COPY testfile.txt c:RUN dir c:"
    assert (copy.sources, copy.dest) == (("testfile.txt", "c:RUN", "dir"), "c:")


def test_backtick_continues_lines() -> None:
    dockerfile = parse("#escape = `\n\nFROM image\nENV GOPATH `\n\\go\nRUN a `\n  b\n")
    env, run = dockerfile.stages[0].instructions
    assert isinstance(env, Env) and env.pairs == (("GOPATH", "\\go"),)
    assert isinstance(run, Run) and run.command == shell("a   b")


@pytest.mark.parametrize("text", [
    "# Comment here.\n# escape = `\n\nFROM image\n",  # after a comment: just a comment
    "\n# escape = `\nFROM image\n",  # after a blank line
    "# foo=bar\n# escape = `\nFROM image\n",  # after an unknown directive
    "FROM image\n# escape = `\n",  # after an instruction
])
def test_escape_directive_must_come_first(text: str) -> None:
    assert parse(text).escape == "\\"


def test_directives_are_case_insensitive_and_spaced() -> None:
    dockerfile = parse("# ESCAPE = `\n#  Syntax=docker/dockerfile:1.7  \n# check=skip=all\n"
                       "FROM a\n")
    assert dockerfile.escape == "`"
    assert dockerfile.syntax == "docker/dockerfile:1.7"


def test_directive_errors() -> None:
    assert error_of("# escape=x\nFROM a\n") == \
        "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\"
    assert error_of("# escape=`\n# escape=\\\nFROM a\n") == \
        "failed to parse Dockerfile: only one escape parser directive can be used"
    assert error_of("# syntax=a\n# syntax=b\nFROM a\n") == \
        "failed to parse Dockerfile: only one syntax parser directive can be used"


# --- continuations -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "command"), [
    ("RUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\\\n  light\\\nning\n",
     "echo hello  world  goodnight    moon  lightning"),
    ("RUN echo hello  \\\n  world\n", "echo hello    world"),
    ("RUN echo hello \\\ngoodbye\\\nfrog\n", "echo hello goodbyefrog"),
    ("RUN echo hello  \\  \nworld\n", "echo hello  world"),  # blanks after the escape
    ("RUN echo hi \\\n \\\n world \\\n\\\n good\\\n\\\nnight\n", "echo hi   world  goodnight"),
    ("RUN echo hello \\\n# this is a comment\n\n# another\n\nthis is more\n",
     "echo hello this is more"),
    ("RUN a \\\n    # indented comment\n    b\n", "a     b"),
    ("RUN something \\", "something"),  # a continuation at the end of the file
])
def test_continuations(text: str, command: str) -> None:
    run = one(text)
    assert isinstance(run, Run) and run.command == shell(command)


def test_escaped_escape_at_the_end_is_not_a_continuation() -> None:
    c, d = steps("ENV C trailing\\\\backslash\\\\\nENV D This should not be appended to C\n")
    assert isinstance(c, Env) and c.pairs == (("C", "trailing\\\\backslash\\\\"),)
    assert isinstance(d, Env) and d.pairs == (("D", "This should not be appended to C"),)


def test_empty_continuation_lines_warn() -> None:
    dockerfile = parse("FROM a\nRUN something \\\n\n    following \\\n\n    more\n"
                       "RUN ok \\\n# comment\n  fine\n")
    assert dockerfile.warnings == (
        "Empty continuation line found in: RUN something     following     more",)


# --- JSON and shell forms ---------------------------------------------------------------

@pytest.mark.parametrize(("line", "command"), [
    ('RUN ["ls", "-la"]', exec_form("ls", "-la")),
    ('RUN [ "a", "b" ]', exec_form("a", "b")),
    ('RUN\t[\t"a",\t"b"\t]\t', exec_form("a", "b")),
    ('RUN ["echo", "\'1234\'"]', exec_form("echo", "'1234'")),
    ('RUN ["\\" \\\\ \\/ \\n \\u0000"]', exec_form('" \\ / \n \x00')),
    ("RUN []", exec_form()),
    ('RUN [""]', exec_form("")),
    ('RUN echo "1234"', shell('echo "1234"')),
    ("RUN ['echo','single quotes are invalid JSON']",
     shell("['echo','single quotes are invalid JSON']")),
    ('RUN ["echo", "unterminated"', shell('["echo", "unterminated"')),
    ('RUN ["echo", "no quote!]', shell('["echo", "no quote!]')),
    ('RUN ["a"] trailing', shell('["a"] trailing')),
    ('RUN "[\\"echo\\", \\"x\\"]"', shell('"[\\"echo\\", \\"x\\"]"')),
    ("RUN [NaN]", shell("[NaN]")),
    ("RUN", Command(args=(), shell_form=True)),
])
def test_run_forms(line: str, command: Command) -> None:
    run = one(line)
    assert isinstance(run, Run) and run.command == command


def test_cmd_and_entrypoint_forms() -> None:
    cmd, entrypoint, cmd2 = steps('CMD echo "test"\nENTRYPOINT [ "/usr/bin/redis-server" ]\n'
                                  "CMD []\n")
    assert isinstance(cmd, Cmd) and cmd.command == shell('echo "test"')
    assert isinstance(entrypoint, Entrypoint)
    assert entrypoint.command == exec_form("/usr/bin/redis-server")
    assert isinstance(cmd2, Cmd) and cmd2.command == exec_form()


def test_json_array_of_non_strings_is_an_error() -> None:
    assert step_error('CMD [ "echo", [ "nested json" ] ]') == (
        "failed to parse Dockerfile: when using JSON array syntax, arrays must be comprised "
        "of strings only")
    assert step_error("RUN [1]").endswith("arrays must be comprised of strings only")


def test_shell() -> None:
    instruction = one('SHELL ["powershell", "-command"]')
    assert instruction == Shell(keyword="SHELL", original='SHELL ["powershell", "-command"]',
                                location=Location("Dockerfile", 2, 2),
                                args=("powershell", "-command"))
    assert step_error("SHELL powershell -command") == \
        "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"
    assert step_error("SHELL []") == \
        "dockerfile parse error on line 2: SHELL requires at least one argument"


# --- flags ------------------------------------------------------------------------------

def test_from_platform() -> None:
    stage = parse("FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n").stages[0]
    assert (stage.base.platform, stage.base.image, stage.name) == (
        "$BUILDPLATFORM", "golang:1.22", "build")


def test_run_flags() -> None:
    run = one("RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=k "
              "--network=none --security=insecure --device=/dev/fuse make")
    assert isinstance(run, Run)
    assert run.mounts == ("type=cache,target=/root/.cache", "type=secret,id=k")
    assert (run.network, run.security, run.devices) == ("none", "insecure", ("/dev/fuse",))
    assert run.command == shell("make")
    plain = one("RUN make")
    assert isinstance(plain, Run)
    assert (plain.mounts, plain.network, plain.security) == ((), None, None)


def test_copy_flags() -> None:
    copy = one("COPY --from=build --chown=1000:1000 --chmod=0755 --link --parents "
               "--exclude=*.md --exclude=.git a b /dest/")
    assert copy == Copy(
        keyword="COPY", original=copy.original, location=Location("Dockerfile", 2, 2),
        sources=("a", "b"), dest="/dest/", from_="build", chown="1000:1000", chmod="0755",
        link=True, parents=True, exclude=("*.md", ".git"))


def test_add_flags() -> None:
    add = one("ADD --checksum=sha256:abc --keep-git-dir=true --link=false --unpack "
              "https://example.com/x.tgz /x")
    assert isinstance(add, Copy) and add.add and add.keyword == "ADD"
    assert (add.checksum, add.keep_git_dir, add.link, add.unpack) == (
        "sha256:abc", True, False, True)
    assert (add.sources, add.dest) == (("https://example.com/x.tgz",), "/x")
    plain = one("ADD a /b")
    assert isinstance(plain, Copy) and plain.unpack is None and plain.from_ is None


def test_flag_values_with_quotes_and_the_double_dash() -> None:
    copy = one('COPY --chown="user name" --from=\'a\' -- --weird /dest')
    assert isinstance(copy, Copy)
    assert (copy.chown, copy.from_, copy.sources) == ("user name", "a", ("--weird",))


@pytest.mark.parametrize(("line", "message"), [
    ("COPY --foo a b", "unknown flag: --foo (did you mean from?)"),
    ("COPY --nosuchflag . .", "unknown flag: --nosuchflag"),
    ("COPY --chwon=1 a b", "unknown flag: --chwon (did you mean chown?)"),
    ("ADD --from=x a b", "unknown flag: --from"),
    ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
    ("RUN --mout=type=cache,target=/x make", "unknown flag: --mout (did you mean mount?)"),
    ("ENV --x a=b", "unknown flag: --x"),
    ("COPY --from a b", "missing a value on flag: --from"),
    ("COPY --exclude a b", "missing a value on flag: --exclude"),
    ("COPY --link= a b", "missing a value on flag: --link"),
    ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
    ("COPY --from=a --from=b a b", "duplicate flag specified: --from"),
    ("RUN --network=bridge make", 'invalid network mode "bridge"'),
    ("RUN --security=open make", 'security "open" is not valid'),
    ("FROM --platfrom=linux/arm64 a", "unknown flag: --platfrom (did you mean platform?)"),
    ("HEALTHCHECK --intervl=5s CMD x", "unknown flag: --intervl (did you mean interval?)"),
])
def test_flag_errors(line: str, message: str) -> None:
    assert step_error(line) == f"dockerfile parse error on line 2: {message}"


def test_flags_docker_does_not_read_are_ignored() -> None:
    # Docker's STOPSIGNAL and ARG never check their flags, nor HEALTHCHECK NONE.
    signal, arg, health = steps("STOPSIGNAL --x SIGTERM\nARG --y A\nHEALTHCHECK --z NONE\n")
    assert isinstance(signal, Stopsignal) and signal.signal == "SIGTERM"
    assert isinstance(arg, Arg) and arg.name == "A"
    assert isinstance(health, Healthcheck) and health.test == ("NONE",)


# --- FROM -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "image", "name"), [
    ("FROM scratch", "scratch", None),
    ("FROM busybox:1.36 AS base", "busybox:1.36", "base"),
    ("FROM busybox as BASE", "busybox", "base"),
    ("FROM a@sha256:0123 aS my-stage_1.x", "a@sha256:0123", "my-stage_1.x"),
])
def test_from(text: str, image: str, name: str | None) -> None:
    base = parse(text).stages[0].base
    assert (base.image, base.name, base.original) == (image, name, text)


@pytest.mark.parametrize(("text", "message"), [
    ("FROM", "FROM requires either one or three arguments"),
    ("FROM a b", "FROM requires either one or three arguments"),
    ("FROM a AS", "FROM requires either one or three arguments"),
    ("FROM a IS b", "FROM requires either one or three arguments"),
    ("FROM a AS 1st", 'invalid name for build stage: "1st", name can\'t start with a number '
                      "or contain symbols"),
    ("FROM a AS my/stage", 'invalid name for build stage: "my/stage", name can\'t start with '
                           "a number or contain symbols"),
])
def test_from_errors(text: str, message: str) -> None:
    assert error_of(text) == f"dockerfile parse error on line 1: {message}"


# --- ENV, LABEL, ARG ----------------------------------------------------------------------

@pytest.mark.parametrize(("line", "pairs"), [
    ("ENV name value", (("name", "value"),)),
    ("ENV name=value", (("name", "value"),)),
    ("ENV name=value name2=value2", (("name", "value"), ("name2", "value2"))),
    ('ENV name="value value1"', (("name", '"value value1"'),)),  # quotes go at expansion
    ("ENV name=value\\ value2", (("name", "value\\ value2"),)),
    ("ENV name=\"value'quote space'value2\"", (("name", "\"value'quote space'value2\""),)),
    ("ENV name='a\\'b'", (("name", "'a\\'b'"),)),
    ("ENV SCUBA 1 DUBA 3", (("SCUBA", "1 DUBA 3"),)),  # legacy: the rest is the value
    ('ENV SCUBA "1 DUBA 3"', (("SCUBA", '"1 DUBA 3"'),)),
    ("ENV A=", (("A", ""),)),
    ('ENV A=""', (("A", '""'),)),
    ("ENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog MY_CAT=fluffy",
     (("MY_NAME", '"John Doe"'), ("MY_DOG", "Rex\\ The\\ Dog"), ("MY_CAT", "fluffy"))),
    ("ENV a=1 \\\n    b=\"2a \\\n   2b\"", (("a", "1"), ("b", '"2a    2b"'))),
])
def test_env(line: str, pairs: tuple[tuple[str, str], ...]) -> None:
    env = one(line)
    assert isinstance(env, Env) and env.pairs == pairs


def test_label() -> None:
    label, legacy = steps('LABEL "com.example.vendor"="ACME Inc" version=1.0 \\\n'
                          '  description="multi\\\n line"\n'
                          'LABEL maintainer James Turnbull "james@example.com"\n')
    assert isinstance(label, Label)
    assert label.pairs == (('"com.example.vendor"', '"ACME Inc"'), ("version", "1.0"),
                           ("description", '"multi line"'))
    assert isinstance(legacy, Label)
    assert legacy.pairs == (("maintainer", 'James Turnbull "james@example.com"'),)


@pytest.mark.parametrize(("line", "message"), [
    ("ENV PATH", "failed to parse Dockerfile: ENV must have two arguments"),
    ("LABEL x", "failed to parse Dockerfile: LABEL must have two arguments"),
    ("ENV a=1 b", "failed to parse Dockerfile: Syntax error - can't find = in \"b\". "
                  "Must be of the form: name=value"),
    ("ENV", "dockerfile parse error on line 2: ENV requires at least one argument"),
    ("LABEL", "dockerfile parse error on line 2: LABEL requires at least one argument"),
    ("ENV =x", "dockerfile parse error on line 2: ENV names can not be blank"),
    ("LABEL =x", "dockerfile parse error on line 2: LABEL names can not be blank"),
])
def test_env_and_label_errors(line: str, message: str) -> None:
    assert step_error(line) == message


@pytest.mark.parametrize(("line", "pairs"), [
    ("ARG user1", (("user1", None),)),
    ("ARG buildno=1", (("buildno", "1"),)),
    ("ARG A=", (("A", ""),)),
    ("ARG foo bar=baz", (("foo", None), ("bar", "baz"))),
    ('ARG abc="123 456" def', (("abc", '"123 456"'), ("def", None))),
])
def test_arg(line: str, pairs: tuple[tuple[str, str | None], ...]) -> None:
    arg = one(line)
    assert isinstance(arg, Arg)
    assert (arg.name, arg.default) == pairs[0]
    assert arg.pairs == pairs


def test_arg_errors() -> None:
    assert step_error("ARG") == "dockerfile parse error on line 2: ARG requires at least " \
        "one argument"
    assert step_error("ARG =1") == "dockerfile parse error on line 2: ARG names can not be blank"


# --- the other instructions ---------------------------------------------------------------

def test_expose_is_sorted_as_docker_does() -> None:
    expose = one("EXPOSE 9000 5000 6000/udp 80-90")
    assert isinstance(expose, Expose) and expose.ports == ("5000", "6000/udp", "80-90", "9000")


@pytest.mark.parametrize(("line", "paths"), [
    ('VOLUME ["/test"]', ("/test",)),
    ('VOLUME ["/test", "/test2"]', ("/test", "/test2")),
    ("VOLUME /test3", ("/test3",)),
    ("VOLUME /var/log /var/db", ("/var/log", "/var/db")),
    ('VOLUME [" /padded "]', ("/padded",)),
])
def test_volume(line: str, paths: tuple[str, ...]) -> None:
    volume = one(line)
    assert isinstance(volume, Volume) and volume.paths == paths


def test_single_argument_instructions() -> None:
    user, workdir, signal, maintainer = steps(
        "USER docker:root\nWORKDIR /path/to/workdir\nSTOPSIGNAL SIGKILL\n"
        "MAINTAINER Erik \\\\Hollensbe <erik@hollensbe.org>\n")
    assert isinstance(user, User) and user.user == "docker:root"
    assert isinstance(workdir, Workdir) and workdir.path == "/path/to/workdir"
    assert isinstance(signal, Stopsignal) and signal.signal == "SIGKILL"
    assert isinstance(maintainer, Maintainer)
    assert maintainer.name == "Erik \\\\Hollensbe <erik@hollensbe.org>"
    spaced = one("WORKDIR /a b")  # the rest of the line is the one argument
    assert isinstance(spaced, Workdir) and spaced.path == "/a b"


@pytest.mark.parametrize(("line", "message"), [
    ("USER", "USER requires exactly one argument"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
    ("MAINTAINER", "MAINTAINER requires exactly one argument"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ("VOLUME", "VOLUME requires at least one argument"),
    ('VOLUME [""]', "VOLUME specified can not be an empty string"),
    ("ONBUILD", "ONBUILD requires at least one argument"),
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("COPY a", "COPY requires at least two arguments, but only one was provided. "
               "Destination could not be determined"),
    ("ADD a", "ADD requires at least two arguments, but only one was provided. "
              "Destination could not be determined"),
    ('COPY ["a"]', "COPY requires at least two arguments, but only one was provided. "
                   "Destination could not be determined"),
])
def test_argument_count_errors(line: str, message: str) -> None:
    assert step_error(line) == f"dockerfile parse error on line 2: {message}"


@pytest.mark.parametrize(("line", "sources", "dest"), [
    ("COPY . /go/src/app", (".",), "/go/src/app"),
    ("COPY\t.\t/", (".",), "/"),
    ('COPY [ "test file", "/tmp/test file" ]', ("test file",), "/tmp/test file"),
    ("COPY a b c /d/", ("a", "b", "c"), "/d/"),
    ("COPY $SRC ${DEST}", ("$SRC",), "${DEST}"),  # expanded by the executor
])
def test_copy_sources_and_dest(line: str, sources: tuple[str, ...], dest: str) -> None:
    copy = one(line)
    assert isinstance(copy, Copy) and (copy.sources, copy.dest) == (sources, dest)
    assert not copy.add


def test_onbuild() -> None:
    first, second, third = steps('ONBUILD RUN ["echo", "test"]\nonbuild  COPY . /\n'
                                 "ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert isinstance(first, Onbuild) and first.expression == 'RUN ["echo", "test"]'
    assert isinstance(second, Onbuild) and second.expression == "COPY . /"
    assert isinstance(third, Onbuild) and third.expression == "RUN <<EOF\necho hi\nEOF"


@pytest.mark.parametrize(("line", "message"), [
    ("ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD maintainer me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("ONBUILD --x RUN a", "unknown flag: --x"),
])
def test_onbuild_errors(line: str, message: str) -> None:
    assert step_error(line) == f"dockerfile parse error on line 2: {message}"


def test_parse_trigger() -> None:
    run = parse_trigger('RUN ["make"]')
    assert isinstance(run, Run) and run.command == exec_form("make")
    heredoc = parse_trigger("RUN <<EOF\necho hi\nEOF")
    assert isinstance(heredoc, Run)
    assert heredoc.heredocs == (Heredoc(name="EOF", content="echo hi\n"),)
    with pytest.raises(DockerfileError) as caught:
        parse_trigger("RUNN x")
    assert caught.value.message == "unknown instruction: RUNN (did you mean RUN?)"


@pytest.mark.parametrize(("line", "health"), [
    ("HEALTHCHECK NONE", Healthcheck(keyword="HEALTHCHECK", original="HEALTHCHECK NONE",
                                     location=Location("Dockerfile", 2, 2), test=("NONE",))),
    ("HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/ || exit 1",
     Healthcheck(keyword="HEALTHCHECK",
                 original="HEALTHCHECK --interval=5m --timeout=3s CMD curl -f "
                          "http://localhost/ || exit 1",
                 location=Location("Dockerfile", 2, 2),
                 test=("CMD-SHELL", "curl -f http://localhost/ || exit 1"),
                 interval="5m", timeout="3s")),
    ('HEALTHCHECK --start-period=1m30s --start-interval=500ms --retries=3 cmd ["foo", "x"]',
     Healthcheck(keyword="HEALTHCHECK",
                 original='HEALTHCHECK --start-period=1m30s --start-interval=500ms '
                          '--retries=3 cmd ["foo", "x"]',
                 location=Location("Dockerfile", 2, 2), test=("CMD", "foo", "x"),
                 start_period="1m30s", start_interval="500ms", retries=3)),
    ("HEALTHCHECK   CMD   a b",
     Healthcheck(keyword="HEALTHCHECK", original="HEALTHCHECK   CMD   a b",
                 location=Location("Dockerfile", 2, 2), test=("CMD-SHELL", "a b"))),
    ("HEALTHCHECK --interval=0 --retries=0 CMD x",
     Healthcheck(keyword="HEALTHCHECK", original="HEALTHCHECK --interval=0 --retries=0 CMD x",
                 location=Location("Dockerfile", 2, 2), test=("CMD-SHELL", "x"),
                 interval="0", retries=0)),
])
def test_healthcheck(line: str, health: Healthcheck) -> None:
    assert one(line) == health


@pytest.mark.parametrize(("line", "message"), [
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK CONNECT TCP 7000", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK --interval=5 CMD x", 'time: missing unit in duration "5"'),
    ("HEALTHCHECK --interval=5x CMD x", 'time: unknown unit "x" in duration "5x"'),
    ("HEALTHCHECK --timeout=abc CMD x", 'time: invalid duration "abc"'),
    ("HEALTHCHECK --timeout=10us CMD x", 'Interval "timeout" cannot be less than 1ms'),
    ("HEALTHCHECK --interval=-1s CMD x", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --retries=x CMD x", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
])
def test_healthcheck_errors(line: str, message: str) -> None:
    assert step_error(line) == f"dockerfile parse error on line 2: {message}"


# --- heredocs -------------------------------------------------------------------------

def test_run_heredoc() -> None:
    run = one("RUN <<EOF\napt-get update\napt-get install -y vim\nEOF\n")
    assert isinstance(run, Run)
    assert run.command == shell("<<EOF")
    assert run.heredocs == (
        Heredoc(name="EOF", content="apt-get update\napt-get install -y vim\n"),)
    assert run.original == "RUN <<EOF"
    assert run.location == Location("Dockerfile", 2, 5)


@pytest.mark.parametrize(("line", "heredoc"), [
    ("RUN <<-EOT\n\techo $A\n\t\tx\n\tEOT\n", Heredoc("EOT", "echo $A\nx\n", True, True)),
    ("RUN <<'EOT'\necho $A\nEOT\n", Heredoc("EOT", "echo $A\n", False)),
    ('RUN <<"EOT"\necho $A\nEOT\n', Heredoc("EOT", "echo $A\n", False)),
    ("RUN <<E'O'T\nx\nEOT\n", Heredoc("EOT", "x\n", False)),
    ("RUN << EOT\nx\nEOT\n", Heredoc("EOT", "x\n", True)),
    ("RUN 3<<EOT\nx\nEOT\n", Heredoc("EOT", "x\n", True)),
    ("RUN <<EOF python3\nprint('hi')\n  EOF\nEOF\n", Heredoc("EOF", "print('hi')\n  EOF\n")),
    ("RUN <<EOT\r\nline\r\nEOT\r\n", Heredoc("EOT", "line\r\n", True)),
    ("RUN <<EOT\n# not a comment\n\nEOT\n", Heredoc("EOT", "# not a comment\n\n", True)),
])
def test_heredoc_forms(line: str, heredoc: Heredoc) -> None:
    run = one(line)
    assert isinstance(run, Run) and run.heredocs == (heredoc,)


def test_several_heredocs_on_a_line() -> None:
    run, user = steps("RUN <<FILE1 cat > /f1 && <<FILE2 cat > /f2\nI am\nfirst\nFILE1\n"
                      "I am\nsecond\nFILE2\nUSER me\n")
    assert isinstance(run, Run)
    assert run.heredocs == (Heredoc("FILE1", "I am\nfirst\n"), Heredoc("FILE2", "I am\nsecond\n"))
    assert isinstance(user, User) and user.location.line == 9


def test_copy_heredocs() -> None:
    copy = one("COPY <<FILE1 <<-FILE2 /dest/\ncontent 1\nFILE1\n\tcontent 2\n\tFILE2\n")
    assert isinstance(copy, Copy)
    assert (copy.sources, copy.dest) == ((), "/dest/")
    assert copy.heredocs == (Heredoc("FILE1", "content 1\n"),
                             Heredoc("FILE2", "content 2\n", True, True))
    mixed = one("COPY file <<'EOF' /d\n$X\nEOF\n")
    assert isinstance(mixed, Copy) and mixed.sources == ("file",)
    assert mixed.heredocs == (Heredoc("EOF", "$X\n", False),)


def test_not_heredocs() -> None:
    json_run, quoted, user = steps('RUN ["cat", "<<EOF"]\nRUN echo "<<EOF"\nUSER <<EOF\n')
    assert isinstance(json_run, Run) and json_run.heredocs == ()
    assert isinstance(quoted, Run) and quoted.heredocs == ()
    assert isinstance(user, User) and user.user == "<<EOF"


def test_heredoc_errors() -> None:
    assert step_error("RUN <<EOF\necho hi\n") == "failed to parse Dockerfile: unterminated heredoc"
    assert step_error("COPY a <<EOF\nx\nEOF\n") == (
        "dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination")
    # The terminator must be the whole line: `EOF ` or ` EOF` is content.
    assert step_error("RUN <<EOF\nx\n EOF\nEOF \n") == \
        "failed to parse Dockerfile: unterminated heredoc"
