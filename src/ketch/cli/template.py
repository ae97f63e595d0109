"""The subset of Go's text/template that `--format` users rely on.

Supported: text with `{{ }}` actions; `.`, field chains (`.State.ExitCode`);
pipelines with `|`; functions json, join, index, len, upper, lower, title,
split, println, truncate, pad; `{{if}}`/`{{else}}`/`{{end}}` and
`{{range}}`/`{{end}}`; string and number literals; `{{- -}}` trimming.
"""

from __future__ import annotations

# typing, collections.abc, json and re are kept off the import path (they cost several ms
# per command, and the default tables need none of them): annotations are strings here, so
# the names are needed by checkers only, and json and re are imported where they are used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class TemplateError(Exception):
    pass


class _Missing:
    """A map key that is not there: Go prints it as "<no value>"."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


def go_json(value: Any) -> str:
    """json.Marshal's output: compact, with <, > and & escaped as Go does."""
    import json

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class FormatterRow(dict):  # type: ignore[type-arg]
    """A row of a docker list formatter (ps, images, stats...): its `{{json .}}` is
    json.Marshal's, with <, > and & escaped; other values go through docker's template
    `json`, which leaves them as they are."""


def template_json(value: Any) -> str:
    if isinstance(value, FormatterRow):
        return go_json(value)
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def go_print(value: Any) -> str:
    """fmt's %v for values decoded from JSON."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if hasattr(value, "go_string"):  # a value with a String() method in docker's Go
        return str(value.go_string())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(go_print(item) for item in value) + "]"
    if isinstance(value, dict):
        items = " ".join(f"{key}:{go_print(value[key])}" for key in sorted(value))
        return f"map[{items}]"
    return str(value)


def _truthy(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, (str, list, dict, tuple)):
        return len(value) > 0
    return bool(value)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, MISSING)
        elif isinstance(value, list):
            value = value[int(key)]
        else:
            raise TemplateError(f"can't index item of type {type(value).__name__}")
    return value


def _pad(value: Any, left: int, right: int) -> str:
    return " " * int(left) + go_print(value) + " " * int(right)


def _truncate(value: Any, length: int) -> str:
    text = go_print(value)
    return text[: int(length)]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": template_json,
    "join": lambda items, sep: sep.join(go_print(item) for item in (items or [])),
    "index": _index,
    "len": lambda value: len(value),
    "upper": lambda value: go_print(value).upper(),
    "lower": lambda value: go_print(value).lower(),
    "title": lambda value: go_print(value).title(),
    "split": lambda value, sep: go_print(value).split(sep),
    "println": lambda *values: " ".join(go_print(v) for v in values) + "\n",
    "print": lambda *values: "".join(go_print(v) for v in values),
    "truncate": _truncate,
    "pad": _pad,
    "not": lambda value: not _truthy(value),
    "eq": lambda a, *others: any(a == other for other in others),
    "ne": lambda a, b: a != b,
}

# Compiled at first use: the default tables (plain text and `{{.Field}}`s) never need them,
# and compiling them was a good part of `ketch ps`'s start.
_ACTION = r"(?s)\{\{(-?)\s*(.*?)\s*(-?)\}\}"
_TOKEN = (
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
      | (?P<pipe>\|)
      | (?P<open>\()
      | (?P<close>\))
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )"""
)


# Plain classes, not dataclasses: `ketch ps --format` should not pay ~8 ms to import them.
class _Text:
    def __init__(self, text: str) -> None:
        self.text = text


class _Action:
    def __init__(self, pipeline: list[list[Any]]) -> None:
        self.pipeline = pipeline


class _If:
    def __init__(self, pipeline: list[list[Any]]) -> None:
        self.pipeline = pipeline
        self.then: list[Any] = []
        self.otherwise: list[Any] = []


class _Range:
    def __init__(self, pipeline: list[list[Any]]) -> None:
        self.pipeline = pipeline
        self.body: list[Any] = []


class Template:
    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = _parse(source)

    def render(self, data: Any) -> str:
        out: list[str] = []
        _render(self.nodes, data, out)
        return "".join(out)


def render(source: str, data: Any) -> str:
    return Template(source).render(data)


def _tokenize(text: str) -> list[tuple[str, str]]:
    import re

    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = re.compile(_TOKEN, re.VERBOSE).match(text, position)
        if not match or match.end() == position:
            raise TemplateError(f"unexpected {text[position:]!r} in command")
        kind = match.lastgroup or ""
        spaced = match.group(0)[:1].isspace()
        if kind == "field" and tokens and tokens[-1][0] == "word" and not spaced:
            raise TemplateError(f"unexpected {match.group(kind)!r} after {tokens[-1][1]!r}")
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _parse_pipeline(text: str) -> list[list[Any]]:
    tokens = _tokenize(text)
    pipeline, _ = _pipeline_from(tokens, 0)
    return pipeline


def _pipeline_from(tokens: list[tuple[str, str]], position: int) -> tuple[list[list[Any]], int]:
    pipeline: list[list[Any]] = [[]]
    while position < len(tokens):
        kind, value = tokens[position]
        position += 1
        if kind == "pipe":
            pipeline.append([])
        elif kind == "close":
            return pipeline, position
        elif kind == "open":
            inner, position = _pipeline_from(tokens, position)
            pipeline[-1].append(("pipeline", inner))
        elif kind == "string":
            literal = value[1:-1] if value.startswith("`") else _string_literal(value)
            pipeline[-1].append(("literal", literal))
        elif kind == "number":
            pipeline[-1].append(("literal", float(value) if "." in value else int(value)))
        elif kind == "field":
            path = [] if value == "." else value[1:].split(".")
            pipeline[-1].append(("field", path))
        elif kind == "word":
            if value in ("true", "false"):
                pipeline[-1].append(("literal", value == "true"))
            elif value == "nil":
                pipeline[-1].append(("literal", None))
            elif value in FUNCTIONS:
                pipeline[-1].append(("function", value))
            else:
                raise TemplateError(f'function "{value}" not defined')
    if any(not command for command in pipeline):
        raise TemplateError("missing value for command")
    return pipeline, position


def _string_literal(text: str) -> str:
    import json

    return str(json.loads(text))


def _simple(source: str) -> list[Any] | None:
    """The nodes of a template of text and `{{.Field}}`s alone (the default tables), found
    without the regular expressions; None for anything else."""
    nodes: list[Any] = []
    rest = source
    while rest:
        text, opened, after = rest.partition("{{")
        if text:
            nodes.append(_Text(text))
        if not opened:
            break
        inside, closed, rest = after.partition("}}")
        if not closed or not inside.startswith("."):
            return None
        path = [] if inside == "." else inside[1:].split(".")
        if not all(part.isidentifier() for part in path):
            return None
        nodes.append(_Action([[("field", path)]]))
    return nodes


def _parse(source: str) -> list[Any]:
    simple = _simple(source)
    if simple is not None:
        return simple
    root: list[Any] = []
    stack: list[tuple[Any, list[Any]]] = [(None, root)]
    position = 0
    trim_next = False
    import re

    for match in re.finditer(_ACTION, source):
        text = source[position : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            stack[-1][1].append(_Text(text))
        trim_next = bool(match.group(3))
        position = match.end()
        body = match.group(2)
        keyword, _, rest = body.partition(" ")
        if body.startswith("/*"):
            continue
        if keyword == "if":
            if_node = _If(_parse_pipeline(rest))
            stack[-1][1].append(if_node)
            stack.append((if_node, if_node.then))
        elif keyword == "range":
            range_node = _Range(_parse_pipeline(rest))
            stack[-1][1].append(range_node)
            stack.append((range_node, range_node.body))
        elif keyword == "else":
            owner, _ = stack.pop()
            if not isinstance(owner, _If):
                raise TemplateError("unexpected {{else}}")
            stack.append((owner, owner.otherwise))
        elif keyword == "end":
            if len(stack) == 1:
                raise TemplateError("unexpected {{end}}")
            stack.pop()
        else:
            stack[-1][1].append(_Action(_parse_pipeline(body)))
    if len(stack) != 1:
        raise TemplateError("unexpected EOF")
    tail = source[position:]
    if "{{" in tail:
        raise TemplateError("unclosed action")
    if trim_next:
        tail = tail.lstrip()
    if tail:
        root.append(_Text(tail))
    return root


def _field(data: Any, path: list[str]) -> Any:
    value = data
    for name in path:
        if isinstance(value, dict):
            value = value.get(name, MISSING)
        elif value is MISSING or value is None:
            return MISSING
        else:
            raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
    return value


def _evaluate(pipeline: list[list[Any]], data: Any) -> Any:
    result: Any = MISSING
    for index, command in enumerate(pipeline):
        arguments = [] if index == 0 else [result]
        head_kind, head = command[0]
        values = [_operand(item, data) for item in command[1:]]
        if head_kind == "function":
            result = FUNCTIONS[head](*values, *arguments)
        else:
            if values or arguments:
                raise TemplateError("can't give argument to non-function")
            result = _operand(command[0], data)
    return result


def _operand(item: tuple[str, Any], data: Any) -> Any:
    kind, value = item
    if kind == "literal":
        return value
    if kind == "field":
        return _field(data, value)
    if kind == "pipeline":
        return _evaluate(value, data)
    return FUNCTIONS[value]()


def _render(nodes: list[Any], data: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Action):
            out.append(go_print(_evaluate(node.pipeline, data)))
        elif isinstance(node, _If):
            branch = node.then if _truthy(_evaluate(node.pipeline, data)) else node.otherwise
            _render(branch, data, out)
        elif isinstance(node, _Range):
            items = _evaluate(node.pipeline, data)
            if isinstance(items, dict):
                items = [items[key] for key in sorted(items)]
            for item in items or []:
                _render(node.body, item, out)
