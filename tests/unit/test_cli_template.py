"""The template engine's plain path (text and fields) against its full one."""

from __future__ import annotations

import pytest

from ketch.cli import template
from ketch.cli.template import Template


@pytest.mark.parametrize(
    "source",
    ["{{.ID}}\t{{.Image}}", "{{.Labels.env}} and text}} here", "{{.}}", "no actions at all"],
)
def test_plain_templates_take_the_plain_path_and_render_as_the_full_one(source: str) -> None:
    data = {"ID": "abc", "Image": "busybox", "Labels": {"env": "dev"}}
    assert template._simple(source) is not None
    full = Template("{{- \"\" -}}" + source)  # a trim marker sends it down the full path
    assert template._simple(full.source) is None
    assert Template(source).render(data) == full.render(data)


@pytest.mark.parametrize("source", ["{{ .ID }}", "{{.ID | upper}}", "{{json .}}", "{{.ID"])
def test_anything_else_takes_the_full_path(source: str) -> None:
    assert template._simple(source) is None
