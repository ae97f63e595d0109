"""A stand-in Engine API on a Unix socket that records what a client sends.

Used to hold ketch's CLI to the docker CLI: both are pointed at the same fake,
which answers every request from a table of canned responses, and a test
compares the request bodies each client sent (or the text each printed from
the same answers). It negotiates API 1.45, ketch's version, so both clients
speak the same dialect.
"""

from __future__ import annotations

import json
import os
import re
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

API_VERSION = "1.45"


class Recorded:
    """One request as it arrived: method, path without the version prefix, query, JSON body."""

    def __init__(self, method: str, path: str, query: str, body: Any) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.body = body

    def __repr__(self) -> str:
        return f"Recorded({self.method} {self.path}?{self.query})"


class FakeEngine:
    """Answers `(METHOD, path regex)` with `(status, JSON)`; anything else gets 404."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="ketch-fake-engine-")
        self.socket_path = os.path.join(self._dir, "engine.sock")
        self.requests: list[Recorded] = []
        self._routes: list[tuple[str, re.Pattern[str], int, Any]] = []
        self._server: socketserver.UnixStreamServer | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def answer(self, method: str, pattern: str, body: Any, status: int = 200) -> None:
        """Later routes win over earlier ones, so a test can override a default."""
        self._routes.insert(0, (method, re.compile(pattern + "$"), status, body))

    def sent(self, method: str, path_pattern: str) -> list[Recorded]:
        wanted = re.compile(path_pattern + "$")
        return [r for r in self.requests if r.method == method and wanted.match(r.path)]

    def __enter__(self) -> FakeEngine:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                target, _, query = self.path.partition("?")
                path = re.sub(r"^/v[0-9.]+", "", target)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw.strip() else None
                engine.requests.append(Recorded(self.command, path, query, body))
                status, answer = engine._route(self.command, path)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Api-Version", API_VERSION)
                self.send_header("Ostype", "linux")
                if path == "/_ping":
                    data = b"OK"
                    self.send_header("Content-Type", "text/plain")
                else:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _handle

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client may hang up before reading all of an answer; that is its business.
                pass

        self._server = Server(self.socket_path, Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for name in os.listdir(self._dir):
            os.unlink(os.path.join(self._dir, name))
        os.rmdir(self._dir)

    def _route(self, method: str, path: str) -> tuple[int, Any]:
        if path == "/_ping":
            return 200, None
        for route_method, pattern, status, body in self._routes:
            if route_method == method and pattern.match(path):
                return status, body
        return 404, {"message": f"page not found: {method} {path}"}
