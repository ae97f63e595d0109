"""`.dockerignore` as Docker reads and matches it (docs.docker.com's examples, and
moby/patternmatcher's cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.dockerignore import Matcher, context_files, read_patterns
from ketch.errors import InvalidArgument


def excluded(patterns: list[str], path: str) -> bool:
    return Matcher(patterns).excludes(path)


def test_read_patterns_comments_whitespace_and_cleaning() -> None:
    text = (
        "\ufeff# a comment\n"
        "\n"
        "  node_modules/  \n"
        " # not a comment: only a line starting with # is one\n"
        "/abs\r\n"
        "./dot/./x\n"
        "! keep/../kept\n"
        "a//b\n"
        "/\n"
    )
    assert read_patterns(text) == [
        "node_modules",
        "# not a comment: only a line starting with # is one",
        "abs",
        "dot/x",
        "!kept",
        "a/b",
        "/",
    ]


def test_bom_only_on_the_first_line() -> None:
    assert read_patterns("a\n\ufeffb") == ["a", "\ufeffb"]


# docs.docker.com, "the .dockerignore file"
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("somedir/temporary.txt", True),  # */temp*
        ("somedir/temp", True),
        ("temporary.txt", False),
        ("somedir/subdir/temporary.txt", True),  # */*/temp*
        ("a/b/c/temporary.txt", False),
        ("tempa", True),  # temp?
        ("tempb", True),
        ("temp", False),
        ("tempab", False),
    ],
)
def test_docs_example(path: str, expected: bool) -> None:
    patterns = read_patterns("# comment\n*/temp*\n*/*/temp*\ntemp?\n")
    assert excluded(patterns, path) is expected


def test_double_star_any_depth() -> None:
    assert excluded(["**/*.go"], "main.go")
    assert excluded(["**/*.go"], "a/b/c/main.go")
    assert not excluded(["**/*.go"], "main.goo")
    assert excluded(["**/foo"], "foo")
    assert excluded(["**/foo"], "a/foo")
    assert not excluded(["**/foo"], "afoo")
    assert excluded(["a/**/b"], "a/b")
    assert excluded(["a/**/b"], "a/x/y/b")
    assert excluded(["a/**"], "a/x/y")
    assert excluded(["**"], "anything/at/all")


def test_exceptions_last_match_wins() -> None:
    md_but_readme = ["*.md", "!README.md"]
    assert excluded(md_but_readme, "CHANGES.md")
    assert not excluded(md_but_readme, "README.md")
    secret = ["*.md", "!README*.md", "README-secret.md"]
    assert excluded(secret, "README-secret.md")
    assert not excluded(secret, "README-public.md")
    assert excluded(secret, "other.md")
    order = ["*.md", "README-secret.md", "!README*.md"]
    assert not excluded(order, "README-secret.md")  # the middle line has no effect
    assert excluded(order, "other.md")


def test_a_parent_directory_match_excludes_its_contents() -> None:
    assert excluded(["build"], "build/x/y.o")
    assert not excluded(["build"], "src/build.c")
    assert excluded(["*/cache"], "a/cache/deep/file")


def test_wildcards_and_classes() -> None:
    assert excluded(["file?.txt"], "file1.txt")
    assert not excluded(["file?.txt"], "file10.txt")
    assert not excluded(["*"], ".") and excluded(["*"], "x")
    assert not excluded(["a*"], "a/b") or excluded(["a*"], "a")  # parent match
    assert excluded(["*.txt"], "a.txt") and not excluded(["*.txt"], "d/a.txt")
    assert excluded(["[a-c].txt"], "b.txt")
    assert not excluded(["[a-c].txt"], "d.txt")
    assert excluded(["[^a].txt"], "b.txt") and not excluded(["[^a].txt"], "a.txt")
    assert excluded(["x.(1)+"], "x.(1)+")  # regexp-only characters are literal
    assert not excluded(["x.y"], "xzy")


def test_escapes() -> None:
    assert excluded(["a\\*b"], "a*b")
    assert not excluded(["a\\*b"], "axb")
    assert excluded(["\\[x\\]"], "[x]")


def test_bad_patterns_refused() -> None:
    for bad in ["[", "a[b", "[]", "[z-a]", "a\\"]:
        with pytest.raises(InvalidArgument, match="syntax error in pattern"):
            Matcher([bad])
    with pytest.raises(InvalidArgument, match="illegal exclusion pattern"):
        Matcher(["!"])


def test_walk_results_differ_from_parent_matching_where_docker_does() -> None:
    # Docker's tar walk tries `!a` on a/b only (it was skipped for `a`): a/b stays out,
    # though the standalone check (which tries every parent) lets it in.
    matcher = Matcher(["a/b", "!a"])
    parent_excluded, info = matcher.excludes_in_walk("a", None)
    assert not parent_excluded
    assert matcher.excludes_in_walk("a/b", info)[0] is True
    assert matcher.excludes("a/b") is False


def test_may_include_below() -> None:
    matcher = Matcher(["vendor", "!vendor/keep/me.txt", "!**/*.go"])
    assert matcher.may_include_below("vendor")
    assert matcher.may_include_below("vendor/keep")
    assert not matcher.may_include_below("vendor/other")
    assert not Matcher(["vendor"]).may_include_below("vendor")


def test_legacy_matches_checks_parents_at_pattern_depth_only() -> None:
    matcher = Matcher(["a"])
    assert matcher.legacy_matches("a/b/c")
    deep = Matcher(["**/b"])  # two components: only "a/x" is tried, not "a/x/b"
    assert not deep.legacy_matches("a/x/b/c")
    assert deep.excludes("a/x/b/c")


def make_tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def test_context_files_walk(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "Dockerfile", ".dockerignore", "b.txt", "a/x.txt", "a/y.log",
        "logs/1.log", "vendor/keep/me.txt", "vendor/drop.txt", "node/m.js",
    ])  # fmt: skip
    text = "*.log\n**/*.log\nvendor\n!vendor/keep/me.txt\nnode\nDockerfile\n.dockerignore\n"
    files = list(context_files(tmp_path, Matcher.from_text(text), [".dockerignore", "Dockerfile"]))
    assert files == [
        ".dockerignore", "Dockerfile", "a", "a/x.txt", "b.txt", "logs",
        "vendor/keep/me.txt",
    ]  # fmt: skip


def test_context_files_keeps_a_dockerfile_in_a_subdirectory(tmp_path: Path) -> None:
    make_tree(tmp_path, ["docker/app.Dockerfile", "docker/other", "src/main.c"])
    files = list(context_files(tmp_path, Matcher(["docker"]), ["docker/app.Dockerfile"]))
    assert files == ["docker/app.Dockerfile", "src", "src/main.c"]


def test_context_files_symlinks_are_not_followed(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real/f"])
    (tmp_path / "link").symlink_to("real")
    assert list(context_files(tmp_path, Matcher([]))) == ["link", "real", "real/f"]
