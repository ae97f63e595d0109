"""The Engine API's HTTP server: routes, middlewares, Unix socket listeners."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

import ketch
from ketch.api import (
    attachws,
    build,
    containers,
    exec,
    images,
    networks,
    swarm,
    system,
    versioning,
    volumes,
)
from ketch.api.backend import Backend
from ketch.api.hijack import use_upgrade_aware_parser
from ketch.api.http import BACKEND, error_response
from ketch.errors import InvalidArgument, KetchError, is_storage_error, status_of, storage_error

log = logging.getLogger("ketch.api")

SERVER_HEADER = f"Ketch/{ketch.__version__} (linux)"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    use_upgrade_aware_parser()
    app = web.Application(middlewares=[docker_middleware], client_max_size=64 * 1024**2)
    app[BACKEND] = backend
    app.on_response_prepare.append(docker_headers)
    for module in (system, images, build, containers, attachws, exec, networks, volumes, swarm):
        for method, path, handler in module.ROUTES:
            add_route(app, method, path, handler)
    return app


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
