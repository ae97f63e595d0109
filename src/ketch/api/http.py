"""What the Engine API's route modules share: the backend a request is served by,
JSON bodies and Docker's query values in, JSON and {"message": ...} errors out."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ketch.api.backend import Backend
from ketch.errors import InvalidArgument

BACKEND: web.AppKey[Backend] = web.AppKey("backend", Backend)


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON as dockerd sends it: the docker CLI reads an error body only when the
    Content-Type is exactly "application/json" (no charset parameter)."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)


def backend_of(request: web.Request) -> Backend:
    return request.app[BACKEND]


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON body, or {} for an empty one; a malformed body is a 400."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    return value


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    """Docker's boolean query values: 1/true/True/yes; 0/false/empty are false."""
    raw = request.query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in ("", "0", "false", "no")


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {raw}") from None


def query_json(request: web.Request, name: str) -> Any:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidArgument(f"invalid {name} value: {raw}") from None
