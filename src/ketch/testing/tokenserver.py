"""A small registry token server for tests: checks a password, issues signed JWTs.

It speaks the distribution token protocol (GET with Basic auth and `scope`
parameters; POST with an OAuth2 refresh-token grant) and signs ES256 tokens
the way the registry verifies them: the header's `kid` is the libtrust key ID
of the public key in the registry's `rootcertbundle`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

TOKEN_LIFETIME = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The registry's key ID: base32 of the first 240 bits of SHA-256(SPKI DER), 4-char groups."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


@dataclass
class SigningKey:
    key: ec.EllipticCurvePrivateKey
    cert_pem: bytes

    @classmethod
    def generate(cls, common_name: str = "ketch test token issuer") -> SigningKey:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert.public_bytes(serialization.Encoding.PEM))

    def jwt(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "ES256", "kid": libtrust_key_id(self.key.public_key())}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        # JWS wants the raw r||s form, not DER.
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@dataclass
class TokenServer:
    """Issue tokens for `users` ({name: password}); runs its own loop in a thread."""

    users: dict[str, str]
    service: str = "ketch-test-registry"
    issuer: str = "ketch-test-issuer"
    signing_key: SigningKey = field(default_factory=SigningKey.generate)
    host: str = "127.0.0.1"
    port: int = 0
    # What the server saw, for tests to assert on: (method, scopes, account).
    requests: list[tuple[str, list[str], str]] = field(default_factory=list)
    _refresh_tokens: dict[str, str] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def realm(self) -> str:
        return f"http://{self.host}:{self.port}/token"

    def write_cert(self, path: Path) -> Path:
        path.write_bytes(self.signing_key.cert_pem)
        return path

    def _token_for(self, account: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) >= 3 and parts[0] == "repository" and account:
                name = ":".join(parts[1:-1])
                access.append({"type": "repository", "name": name, "actions": parts[-1].split(",")})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": account,
            "aud": self.service,
            "exp": now + TOKEN_LIFETIME,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        return self.signing_key.jwt(claims)

    def _basic_account(self, request: web.Request) -> str | None:
        """The user name when Basic credentials are right; "" when none were sent."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return ""
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user if self.users.get(user) == password else None

    @staticmethod
    def _refused(details: str) -> web.Response:
        return web.json_response({"details": details}, status=401)

    async def _get(self, request: web.Request) -> web.Response:
        scopes = request.query.getall("scope", [])
        account = self._basic_account(request)
        self.requests.append(("GET", scopes, account or ""))
        if account is None:
            return self._refused("incorrect username or password")
        if request.query.get("service") != self.service:
            return web.json_response({"details": "unknown service"}, status=400)
        doc: dict[str, Any] = {
            "token": self._token_for(account, scopes),
            "expires_in": TOKEN_LIFETIME,
            "issued_at": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        if account and request.query.get("offline_token") == "true":
            refresh = secrets.token_urlsafe(24)
            self._refresh_tokens[refresh] = account
            doc["refresh_token"] = refresh
        return web.json_response(doc)

    async def _post(self, request: web.Request) -> web.Response:
        form = await request.post()
        scopes = str(form.get("scope", "")).split()
        account = self._refresh_tokens.get(str(form.get("refresh_token", "")))
        self.requests.append(("POST", scopes, account or ""))
        if form.get("grant_type") != "refresh_token" or account is None:
            return self._refused("invalid refresh token")
        return web.json_response(
            {"access_token": self._token_for(account, scopes), "expires_in": TOKEN_LIFETIME}
        )

    def start(self) -> TokenServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            app = web.Application()
            app.router.add_get("/token", self._get)
            app.router.add_post("/token", self._post)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(serve())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            self._loop.close()

        self._thread = threading.Thread(target=run, name="token-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None
