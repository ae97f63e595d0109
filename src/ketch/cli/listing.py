"""Rows as the docker CLI prints lists: `--format` templates, `table`, and filters."""

from __future__ import annotations

from ketch.cli.app import ExitStatus
from ketch.cli.flags import UsageError
from ketch.cli.tables import render_table
from ketch.cli.template import FormatterRow, Template, TemplateError

# typing is kept off the import path (it costs several ms per command);
# annotations are strings here, so the names are needed by checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """`--filter key=value` (repeatable) -> the API's filters map."""
    filters: dict[str, list[str]] = {}
    for item in items:
        key, has_value, value = item.partition("=")
        if not has_value:
            raise UsageError(f"bad format of filter (expected name=value): {item}")
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters


def render_rows(
    template_text: str,
    rows: list[dict[str, Any]],
    headers: dict[str, str],
) -> str:
    """Render rows with a Go template; a `table ` prefix adds docker's header row and
    aligns the tab-separated columns."""
    if template_text == "json":
        # docker's shorthand: each row as one line of JSON.
        template_text = "{{json .}}"
    is_table = template_text.startswith("table")
    source = template_text[len("table") :].lstrip() if is_table else template_text
    source = source.replace("\\t", "\t").replace("\\n", "\n")
    try:
        template = Template(source)
    except TemplateError as error:
        # docker's formatter: Go's text/template names the (unnamed) template and its line
        raise ExitStatus(1, f"template parsing error: template: :1: {error}") from None
    try:
        # docker's formatter contexts marshal to JSON with their keys sorted (`{{json .}}`)
        lines = [template.render(FormatterRow(sorted(row.items()))) for row in rows]
    except TemplateError as error:
        raise UsageError(f"template: {error}") from None
    if not is_table:
        return "".join(line + "\n" for line in lines)
    header = Template(source).render(_HeaderRow(headers))
    table = [line.split("\t") for line in [header, *lines]]
    return render_table(table)


class _HeaderRow(dict[str, str]):
    """Evaluates `{{.ID}}` to the column header ("CONTAINER ID") for the table's first row."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self.headers = headers

    def get(self, key: str, default: Any = None) -> Any:
        return self.headers.get(key, key.upper())
