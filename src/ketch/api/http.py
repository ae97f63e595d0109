"""What the Engine API's route modules share: the backend a request is served by,
JSON bodies and Docker's query values in, JSON and {"message": ...} errors out."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aiohttp import web

from ketch.api.backend import Backend
from ketch.errors import InvalidArgument
from ketch.timestamps import parse_docker_time

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
        # JSON is UTF-8 (RFC 8259); json.loads(bytes) would guess UTF-16 or -32 instead.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"invalid JSON: the body is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start})"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the decoder goes; Go's words for its limit
        raise InvalidArgument("invalid JSON: exceeded max depth") from None
    if not isinstance(value, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    return value


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    """Docker's boolean query values: 1/true/True/yes; 0/false/empty are false."""
    raw = request.query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in ("", "0", "false", "no")


GO_INT = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi reads: no spaces, "_" or "1e3"


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    """A Go int (64 bits): anything else is a 400, a huge number included."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not GO_INT.fullmatch(raw):
        raise InvalidArgument(f"invalid value for {name}: {raw}")
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise InvalidArgument(f"invalid value for {name}: {raw}: value out of range")
    return value


def query_uint32(request: web.Request, name: str, what: str) -> int:
    """A terminal dimension as dockerd reads it (0 when absent): 'invalid resize
    height "-1": value out of range'."""
    raw = request.query.get(name)
    if raw is None:
        return 0
    digits = raw.removeprefix("-")
    if not digits or not digits.isascii() or not digits.isdigit():
        raise InvalidArgument(f'invalid {what} "{raw}": invalid syntax')
    if raw.startswith("-") or int(digits) >= 2**32:
        raise InvalidArgument(f'invalid {what} "{raw}": value out of range')
    return int(digits)


def parse_time_param(value: str | None) -> float | None:
    """Docker's since/until: a duration before now, unix seconds (with fraction) or RFC 3339
    (`since=0`: from the start of the events' history)."""
    if not value:
        return None
    try:
        return parse_docker_time(value, time.time())
    except ValueError:
        raise InvalidArgument(f"invalid time value: {value}") from None
