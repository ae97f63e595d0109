"""The `filters` query parameter as dockerd reads it, for every route that has one.

Two JSON shapes are Docker's: {"key": ["value", ...]} and the older
{"key": {"value": true}}. Anything else (a number, a list, values that are not
strings) is dockerd's 400 "invalid filter", before a route looks at the keys.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ketch.errors import InvalidArgument

INVALID = "invalid filter"


def parse(raw: str | None) -> dict[str, list[str]]:
    """{"key": [values]} from either wire shape; "" and "null" are no filters."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidArgument(INVALID) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(INVALID)
    return {key: _values(values) for key, values in value.items()}


def _values(values: Any) -> list[str]:
    if isinstance(values, dict) and all(isinstance(on, bool) for on in values.values()):
        return [v for v, on in values.items() if on]
    # A null element is Go's zero value, as its decoder reads it: "".
    if isinstance(values, list) and all(v is None or isinstance(v, str) for v in values):
        return [v or "" for v in values]
    raise InvalidArgument(INVALID)


def query_filters(request: web.Request) -> dict[str, list[str]]:
    return parse(request.query.get("filters"))


def check_keys(filters: dict[str, list[str]], accepted: set[str]) -> None:
    """dockerd's Validate: a key the route does not know is "invalid filter 'key'"."""
    for key in filters:
        if key not in accepted:
            raise InvalidArgument(f"{INVALID} '{key}'")


def bool_or_default(filters: dict[str, list[str]], key: str, default: bool) -> bool:
    """dockerd's GetBoolOrDefault: exactly one of true/1 or false/0 (as written), else
    "invalid filter 'dangling=[x]'"."""
    if key not in filters:
        return default
    values = filters[key]
    if not values:
        raise InvalidArgument(f"{INVALID} '{key}'")
    is_true = bool({"1", "true"} & set(values))
    is_false = bool({"0", "false"} & set(values))
    if is_true == is_false:
        raise InvalidArgument(f"{INVALID} '{key}=[{' '.join(values)}]'")
    return is_true
