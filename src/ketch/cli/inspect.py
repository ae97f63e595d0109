"""`ketch inspect`: containers first, then images, as JSON or through a Go template."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ketch import errors
from ketch.cli.app import Cli, Entry, ExitStatus, daemon_error_text
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed, UsageError
from ketch.cli.template import Template, TemplateError

_ENDPOINTS = {"container": "/containers/{}/json", "image": "/images/{}/json"}


def go_indented_json(value: Any) -> str:
    """json.MarshalIndent with 4 spaces and Go's escaping of <, > and &."""
    text = json.dumps(value, indent=4, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_indent(text: str, indent: str = "    ") -> str:
    """Go's json.Indent: JSON text laid out with newlines and `indent`, strings untouched
    (so escapes stay as the daemon wrote them); empty objects and arrays stay `{}`, `[]`."""
    out: list[str] = []
    depth = 0
    in_string = escaped = False
    pending_open = False  # just after { or [: the newline waits, in case it closes at once
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char in " \t\r\n":
            continue
        if pending_open:
            pending_open = False
            if char in "]}":
                depth -= 1
                out.append(char)
                continue
            out.append("\n" + indent * depth)
        if char == '"':
            in_string = True
            out.append(char)
        elif char in "{[":
            depth += 1
            pending_open = True
            out.append(char)
        elif char in "}]":
            depth -= 1
            out.append("\n" + indent * depth + char)
        elif char == ",":
            out.append(",\n" + indent * depth)
        elif char == ":":
            out.append(": ")
        else:
            out.append(char)
    return "".join(out)


def find_object(cli: Cli, name: str, kind: str | None, size: bool) -> dict[str, Any]:
    kinds = [kind] if kind else ["container", "image"]
    for each in kinds:
        params = {"size": True} if size and each == "container" else None
        try:
            found: dict[str, Any] = cli.client.get(_ENDPOINTS[each].format(name), params)
            return found
        except errors.NotFound:
            continue
    if kind:
        raise errors.NotFound(f"No such {kind}: {name}")
    raise errors.NotFound(f"No such object: {name}")


def go_compact(text: str) -> str:
    """Go's json.Compact: the whitespace between tokens dropped, strings untouched."""
    out: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in " \t\r\n":
            continue
        out.append(char)
    return "".join(out)


def inspect_each(
    cli: Cli,
    format_text: str | None,
    paths: list[str],
    params: dict[str, Any] | None = None,
    typed: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    marshalled: bool = False,
) -> int:
    """docker's inspect of one kind of object (`network inspect`, `volume inspect`): each
    path asked in turn, the found ones printed, then the daemon's errors, exit 1 if any.
    `typed` gives a template what docker's Go struct would (a null map is `map[]` there);
    `marshalled`: docker prints its decoded struct again, not the daemon's bytes, so maps
    come out with their keys sorted."""
    template = None
    if format_text and format_text != "json":
        try:
            template = Template(format_text.replace("\\n", "\n").replace("\\t", "\t"))
        except TemplateError as error:
            raise ExitStatus(64, f"template parsing error: {error}") from None
    found: list[dict[str, Any]] = []
    raw: list[str] = []
    failures: list[str] = []
    for path in paths:
        try:
            text = cli.client.request("GET", path, params=params).read()
        except errors.KetchError as error:
            failures.append(daemon_error_text(error))
            continue
        raw.append(text.decode().strip())
        found.append(json.loads(text))
    if marshalled:
        raw = [
            json.dumps(item, sort_keys=True, ensure_ascii=False)
            .replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            for item in found
        ]
    if format_text == "json":
        cli.out("[" + ",".join(go_compact(text) for text in raw) + "]")
    elif template is None:
        # docker indents what the daemon sent, byte for byte, rather than re-encoding it.
        cli.out(go_indent("[" + ",".join(raw) + "]"))
    else:
        for item in found:
            try:
                cli.out(template.render(typed(item) if typed else item))
            except TemplateError as error:
                failures.append(f"template: {error}")
    if failures:
        raise ExitStatus(1, "\n".join(failures))
    return 0


def inspect(cli: Cli, parsed: Parsed) -> int:
    if parsed.type and parsed.type not in _ENDPOINTS:
        raise UsageError(f'"{parsed.type}" is not a valid value for --type')
    template = None
    if parsed.format and parsed.format != "json":  # "json" is docker's name for the default
        try:
            template = Template(parsed.format.replace("\\n", "\n").replace("\\t", "\t"))
        except TemplateError as error:
            raise ExitStatus(1, f"template parsing error: {error}") from None
    found: list[dict[str, Any]] = []
    failures: list[str] = []
    for name in parsed.args:
        try:
            found.append(find_object(cli, name, parsed.type, parsed.size))
        except errors.KetchError as error:
            if errors.status_of(error) != 404:
                failures.append(daemon_error_text(error))
            else:
                failures.append(f"Error: {error.message}")
    if template is None:
        cli.out(go_indented_json(found))
    else:
        for item in found:
            try:
                cli.out(template.render(item))
            except TemplateError as error:
                raise ExitStatus(1, f"template: {error}") from None
    for failure in failures:
        cli.err(failure)
    return 1 if failures else 0


ENTRIES = {
    "inspect": Entry(
        Command(
            "inspect",
            "inspect [OPTIONS] NAME|ID [NAME|ID...]",
            "Return low-level information on Docker objects",
            [
                Flag("format", "format", "f", STRING, help="Format output using a Go template"),
                Flag("size", "size", "s", BOOL, help="Display total file sizes"),
                Flag("type", "type", None, STRING, help="Return JSON for specified type"),
            ],
            min_args=1,
        ),
        inspect,
    )
}
