"""build/substitution.py: Docker's word expansion, case by case against what BuildKit's
shell lexer gives (the Dockerfile reference's examples first)."""

from __future__ import annotations

import dataclasses

import pytest

from ketch.build import instructions
from ketch.build.substitution import (
    EXPANDED,
    expand,
    expand_heredoc,
    expand_tracking,
    expand_words,
    variables_used,
)
from ketch.errors import InvalidArgument

ENV = {"PWD": "/home", "SHELL": "bash", "NULL": "", "KOREAN": "한국어"}


@pytest.mark.parametrize(("word", "expected"), [
    # The reference's "Environment replacement" example: FOO=/bar.
    ("${FOO}", "/bar"),
    ("$FOO", "/bar"),
    ("\\$FOO", "$FOO"),
    ("${FOO}/baz", "/bar/baz"),
    ("$FOO/baz", "/bar/baz"),
    ("${FOO:-default}", "/bar"),
    ("${UNSET:-default}", "default"),
    ("${FOO:+set}", "set"),
    ("${UNSET:+set}", ""),
])
def test_reference_examples(word: str, expected: str) -> None:
    assert expand(word, {"FOO": "/bar"}) == expected


@pytest.mark.parametrize(("word", "expected"), [
    # The reference's table of modifiers, with str=foobarbaz.
    ("${str#f*b}", "arbaz"),
    ("${str##f*b}", "az"),
    ("${str%b*}", "foobar"),
    ("${str%%b*}", "foo"),
    ("${str/ba/fo}", "fooforbaz"),
    ("${str//ba/fo}", "fooforfoz"),
    ("${str/#foo/x}", "foobarbaz"),  # no anchors in Docker's patterns: # is literal
])
def test_pattern_modifiers(word: str, expected: str) -> None:
    assert expand(word, {"str": "foobarbaz"}) == expected


@pytest.mark.parametrize(("word", "expected"), [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he\\'llo", "he'llo"),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),  # inside "", \ escapes only " $ and itself
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),  # a lone escape at the end is dropped
    ("hello\\\\", "hello\\"),
    ('"hel\'lo"', "hel'lo"),
    ("'hello\\'", "hello\\"),  # nothing escapes inside ''
    ("'\"hello\"'", '"hello"'),
    ('"\'\'"', "''"),
    ("$.", "$."),
    ("he$1x", "hex"),  # positional parameters are never set
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ("'he$PWD'", "he$PWD"),
    ("\\${}", "${}"),
    ("he${hi}xx", "hexx"),  # unknown variables are empty
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${NULL?}", "he"),  # set (if empty) passes ?
    ("he${NULL:-x}", "hex"),  # : treats empty as unset
    ("he${NULL-x}", "he"),
    ("he${NULL+x}", "hex"),
    ("he${NULL:+x}", "he"),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
    ("${aaa}}", "}"),
    ("${aaa:-bbb {foo}", "bbb {foo"),
    ("$KOREAN", "한국어"),
    ("안'녕'하세요", "안녕하세요"),
    ("$999aaa", "aaa"),
    ("$@@@", "@@"),  # a special parameter is one character
    ("${#:-bbb}", "bbb"),
])
def test_lexer_cases(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


@pytest.mark.parametrize(("word", "message"), [
    ("he'llo", "unexpected end of statement while looking for matching single-quote"),
    ('"hello', "unexpected end of statement while looking for matching double-quote"),
    ('"hello\\"', "unexpected end of statement while looking for matching double-quote"),
    ("${}", "syntax error: bad substitution"),
    ("he${.}", "unsupported modifier (.) in substitution"),
    ("${:-x}", "syntax error: bad substitution"),
    ("he${PWD", "unsupported modifier (\ufffd) in substitution"),
    ("${aaa:-bbb", "syntax error: missing '}'"),
    ("${aaa:-bbb ${foo}", "syntax error: missing '}'"),
    ("he${XXX:YYY}", "unsupported modifier (:Y) in substitution"),
    ("he${PWD:=000}xx", "unsupported modifier (:=) in substitution"),
    ("${XXX?}", "XXX: is not allowed to be unset"),
    ("${NULL:?}", "NULL: is not allowed to be empty"),
    ("${XXX:?set it$SHELL}", "XXX: set itbash"),
    ("${PWD:#x}", "unsupported modifier (:#) in substitution"),
    ("${PWD/x}", "syntax error: missing '/' in ${}"),
    ("${PWD#\\x}", "invalid pattern (\\x) in substitution: invalid escape '\\x'"),
])
def test_errors_name_the_word(word: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        expand(word, ENV)
    quoted = word.replace("\\", "\\\\").replace('"', '\\"')
    assert caught.value.message == f'failed to process "{quoted}": {message}'


@pytest.mark.parametrize(("word", "env", "expected"), [
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),  # shortest * is empty
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO/$N/.} - ${FOO//$N/.}", {"FOO": "/foo*/*/*.txt", "N": "\\*/"},
     "/foo.*/*.txt - /foo..*.txt"),
    ("${FOO/$N/$R} - ${FOO//$N/$R}", {"FOO": "/a/foo/b/c.txt", "N": "/?/", "R": "/"},
     "/foo/b/c.txt - /foo/c.txt"),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO//*/-}", {"FOO": "abc"}, "-"),  # Go skips the empty match after a match
    ("${FOO//x*/-}", {"FOO": "axbxc"}, "a-"),
    ("${V}${A:+-${A}}.tgz", {"V": "v1", "A": "v7"}, "v1-v7.tgz"),
    ("${V}${A:+-${A}}.tgz", {"V": "v1", "A": ""}, "v1.tgz"),
])
def test_patterns(word: str, env: dict[str, str], expected: str) -> None:
    assert expand(word, env) == expected


@pytest.mark.parametrize(("word", "expected"), [
    ("hello", ["hello"]),
    ("hello${space}bye", ["helloabc", "defbye"]),  # a value's whitespace splits
    ('hello"${space}"bye', ["helloabc  defbye"]),  # a quoted one does not
    ('hello "${space}"bye', ["hello", "abc  defbye"]),
    ("hello${leading}def", ["hello", "ab", "cdef"]),
    ("hello${trailing}d", ["helloab", "c", "d"]),
    ('hello" there  "', ["hello there  "]),
    ("hello there     ", ["hello", "there"]),
    ("hello\\ there", ["hello there"]),
    ('hello\\" there', ['hello"', "there"]),
    ("hello'$there'", ["hello$there"]),
    ('""', []),  # an empty quoted word is no word, as Docker has it
    ("80 443/udp", ["80", "443/udp"]),
    ("$PORTS", ["80", "443"]),
])
def test_expand_words(word: str, expected: list[str]) -> None:
    env = {"space": "abc  def", "leading": "  ab c", "trailing": "ab c   ", "PORTS": "80 443"}
    assert expand_words(word, env) == expected


def test_expand_keeps_whitespace_as_one_word() -> None:
    assert expand("a  $X  b", {"X": "1  2"}) == "a  1  2  b"


def test_backtick_escape() -> None:
    assert expand("C:`\\foo`$X", {"X": "y"}, escape="`") == "C:\\foo$X"
    assert expand("\\$X", {"X": "y"}, escape="`") == "\\y"
    assert expand('"a`"b"', {}, escape="`") == 'a"b'


def test_tracking_names_found_and_missing() -> None:
    result = expand_tracking("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""})
    assert result.text == "xxx  ccc"
    assert result.words == ("xxx", "ccc")
    assert result.matched == frozenset({"FOO", "BAR"})
    assert result.unmatched == frozenset({"BAZ"})


@pytest.mark.parametrize(("word", "env", "used"), [
    ("x", {"A": "1"}, set()),
    ("$A/${B}", {"A": "1"}, {"A", "B"}),
    ("'$A'", {"A": "1"}, set()),  # single quotes: no lookup
    ('"$A"', {"A": "1"}, {"A"}),
    ("\\$A", {"A": "1"}, set()),
    ("${A:-$B}", {"A": "1"}, {"A", "B"}),  # the default is expanded even when unused
    ("${A:-$B}", {}, {"A", "B"}),
    ("${A#$B}", {"A": "1", "B": "2"}, {"A", "B"}),
])
def test_variables_used(word: str, env: dict[str, str], used: set[str]) -> None:
    assert variables_used(word, env) == used


def test_heredoc_body_keeps_quotes_and_escapes() -> None:
    body = 'echo "$A" \'$B\' \\$C\n'
    assert expand_heredoc(body, {"A": "1", "B": "2", "C": "3"}) == "echo \"1\" '$B' \\$C\n"


def test_expanded_names_real_fields() -> None:
    classes = {
        "ADD": instructions.Copy, "ARG": instructions.Arg, "COPY": instructions.Copy,
        "ENV": instructions.Env, "EXPOSE": instructions.Expose, "FROM": instructions.From,
        "LABEL": instructions.Label, "RUN": instructions.Run,
        "STOPSIGNAL": instructions.Stopsignal, "USER": instructions.User,
        "VOLUME": instructions.Volume, "WORKDIR": instructions.Workdir,
    }
    assert set(EXPANDED) == set(classes)
    for keyword, parts in EXPANDED.items():
        fields = {f.name for f in dataclasses.fields(classes[keyword])}
        assert set(parts) <= fields, keyword
    assert "RUN" in EXPANDED and EXPANDED["RUN"] == ("mounts",)
    assert "ONBUILD" not in EXPANDED and "CMD" not in EXPANDED
