"""The Engine API's HTTP server: routes, middlewares, Unix socket listeners."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

import ketch
from ketch.api import versioning
from ketch.api.backend import Backend
from ketch.errors import InvalidArgument, KetchError, is_storage_error, status_of, storage_error

log = logging.getLogger("ketch.api")

BACKEND: web.AppKey[Backend] = web.AppKey("backend", Backend)
SERVER_HEADER = f"Ketch/{ketch.__version__} (linux)"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON as dockerd sends it: the docker CLI reads an error body only when the
    Content-Type is exactly "application/json" (no charset parameter)."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)


@web.middleware
async def docker_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Version check, Docker's headers on every response, errors as {"message": ...}."""
    try:
        request["api_version"] = versioning.negotiate(request.match_info.get("version"))
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404 and not request.match_info.route.resource:
            response = error_response(404, "page not found")
        elif exc.status == 413:  # aiohttp's text says what the limit is, its reason does not
            response = error_response(413, exc.text or exc.reason)
        elif exc.status >= 400:
            response = error_response(exc.status, exc.reason)
        else:
            response = exc
    except KetchError as exc:
        status = status_of(exc)
        response = (
            web.Response(status=304) if status == 304 else error_response(status, exc.message)
        )
    except (ConnectionResetError, BrokenPipeError):
        # The client left mid-answer (an interrupted `docker logs -f`, a closed pipe):
        # nobody to answer and nothing wrong here. Closing the transport makes
        # aiohttp drop this response quietly instead of logging a traceback.
        log.debug("%s %s: the client went away", request.method, request.path)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    except Exception as exc:  # one bad request must not take the daemon down
        if is_storage_error(exc):  # a full disk, in dockerd's words: "write /x: no space..."
            log.error("%s %s failed: %s", request.method, request.path, exc)
            response = error_response(500, storage_error(exc).message)  # type: ignore[arg-type]
        else:
            log.exception("%s %s failed", request.method, request.path)
            response = error_response(500, str(exc) or type(exc).__name__)
    return response


async def docker_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response as it goes out, streamed ones included (clients read Api-Version)."""
    response.headers["Api-Version"] = ketch.API_VERSION
    response.headers["Server"] = SERVER_HEADER
    response.headers.setdefault("Docker-Experimental", "false")
    response.headers.setdefault("Ostype", "linux")


def add_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Every route answers both unversioned and under /v<major>.<minor>."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, r"/v{version:[0-9]+\.[0-9]+}" + path, handler)


def make_app(backend: Backend) -> web.Application:
    from ketch.api import containers, exec, images, networks, system, volumes
    from ketch.api.hijack import use_upgrade_aware_parser

    use_upgrade_aware_parser()
    app = web.Application(middlewares=[docker_middleware], client_max_size=64 * 1024**2)
    app[BACKEND] = backend
    app.on_response_prepare.append(docker_headers)
    for module in (system, images, containers, exec, networks, volumes):
        for method, path, handler in module.ROUTES:
            add_route(app, method, path, handler)
    return app


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


class ApiServer:
    """Listens on the configured unix:// hosts; removes its sockets on stop."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.runner: web.AppRunner | None = None
        self.socket_paths: list[Path] = []

    async def start(self) -> None:
        self.runner = web.AppRunner(
            make_app(self.backend),
            # Requests are logged in debug mode only (dockerd logs them at debug too).
            access_log=logging.getLogger("ketch.api.access") if self.backend.config.debug else None,
            handle_signals=False,
            shutdown_timeout=1.0,
        )
        await self.runner.setup()
        for host in self.backend.config.api_hosts:
            if host.startswith("tcp://"):
                address, port = tcp_address(host)
                if not ipaddress.ip_address(address).is_loopback:
                    log.warning(
                        "binding to %s without TLS: anyone who reaches it controls ketchd", host
                    )
                await web.TCPSite(self.runner, address, port).start()
                continue
            path = unix_socket_path(host)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_socket():
                path.unlink()  # left by a ketchd that was killed; the pid lock says none runs
            site = web.UnixSite(self.runner, str(path))
            await site.start()
            os.chmod(path, 0o660)
            self.socket_paths.append(path)

    async def stop(self) -> None:
        for path in self.socket_paths:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        if self.runner is not None:
            await self.runner.cleanup()


def unix_socket_path(host: str) -> Path:
    if host.startswith("unix://"):
        return Path(host.removeprefix("unix://"))
    if host.startswith("/"):
        return Path(host)
    raise InvalidArgument(f"unsupported host {host!r}: ketchd serves unix:// and tcp://")


def tcp_address(host: str) -> tuple[str, int]:
    """tcp://127.0.0.1:2375 -> ("127.0.0.1", 2375); the port defaults to Docker's 2375."""
    rest = host.removeprefix("tcp://").rstrip("/")
    address, sep, port = rest.rpartition(":")
    if not sep:
        address, port = rest, "2375"
    address = address.strip("[]") or "127.0.0.1"
    try:
        ipaddress.ip_address(address)
        return address, int(port)
    except ValueError:
        raise InvalidArgument(f"invalid tcp host {host!r}: give an IP address and port") from None
