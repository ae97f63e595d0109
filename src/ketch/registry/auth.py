"""Registry authentication: WWW-Authenticate challenges, Basic, and Bearer tokens.

Credentials come per call in Docker's AuthConfig form (`username`, `password`,
`identitytoken`, `registrytoken`, `serveraddress`), as the daemon receives
them in X-Registry-Auth. Tokens are cached per realm, service, scope and
identity until shortly before they expire.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ketch import errors

CLIENT_ID = "ketch"
# Renew a little early so a token never expires between check and use.
_EXPIRY_MARGIN = 10.0
# The spec's minimum lifetime when a token server names none.
_DEFAULT_EXPIRES_IN = 60

_PARAM_RE = re.compile(r'([a-zA-Z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercased: "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)

    def same_authority(self, other: Challenge | None) -> bool:
        """Same scheme, realm and service: the `scope` differs per request and is ignored."""
        keys = ("realm", "service")
        return other is not None and (self.scheme, *(self.params.get(k) for k in keys)) == (
            other.scheme,
            *(other.params.get(k) for k in keys),
        )


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """Parse WWW-Authenticate header values into challenges."""
    out = []
    for header in headers:
        scheme, _, rest = header.strip().partition(" ")
        if not scheme:
            continue
        params = {
            m.group(1).lower(): (
                re.sub(r"\\(.)", r"\1", m.group(2)) if m.group(2) is not None else m.group(3)
            )
            for m in _PARAM_RE.finditer(rest)
        }
        out.append(Challenge(scheme.lower(), params))
    return out


def scope_for(repository: str, actions: tuple[str, ...]) -> str:
    return f"repository:{repository}:{','.join(actions)}"


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def has_credentials(auth: dict[str, Any] | None) -> bool:
    return bool(auth and (auth.get("username") or auth.get("identitytoken")))


def _identity(auth: dict[str, Any] | None) -> str:
    if not auth:
        return ""
    return (
        f"{auth.get('username', '')}\0{auth.get('password', '')}\0{auth.get('identitytoken', '')}"
    )


def _token_error_text(status: int, body: bytes) -> str:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        details = doc.get("details")
        if isinstance(details, str):
            return details
        errs = doc.get("errors")
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            return str(errs[0].get("message") or errs[0].get("code"))
    text = body.decode(errors="replace").strip()
    return text[:200] or f"status {status}"


@dataclass
class _Token:
    value: str
    expires_at: float
    refresh_token: str | None


class TokenCache:
    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, str], _Token] = {}

    async def token(
        self,
        session: aiohttp.ClientSession,
        challenge: Challenge,
        scopes: list[str],
        auth: dict[str, Any] | None,
        ssl: bool,
        offline: bool = False,
    ) -> _Token:
        realm = challenge.params.get("realm")
        if not realm:
            raise errors.Unauthorized("unauthorized: token challenge without realm")
        service = challenge.params.get("service", "")
        key = (realm, service, " ".join(sorted(scopes)), _identity(auth))
        cached = self._tokens.get(key)
        if cached and cached.expires_at > time.monotonic():
            return cached
        token = await _fetch_token(session, realm, service, scopes, auth, ssl, offline)
        self._tokens[key] = token
        return token

    def forget(self, challenge: Challenge, scopes: list[str], auth: dict[str, Any] | None) -> None:
        key = (
            challenge.params.get("realm", ""),
            challenge.params.get("service", ""),
            " ".join(sorted(scopes)),
            _identity(auth),
        )
        self._tokens.pop(key, None)


async def _fetch_token(
    session: aiohttp.ClientSession,
    realm: str,
    service: str,
    scopes: list[str],
    auth: dict[str, Any] | None,
    ssl: bool,
    offline: bool,
) -> _Token:
    auth = auth or {}
    identity_token = auth.get("identitytoken")
    if identity_token:
        # OAuth2 refresh-token grant, as the docker CLI's identity tokens require.
        form = {
            "grant_type": "refresh_token",
            "refresh_token": identity_token,
            "service": service,
            "client_id": CLIENT_ID,
            "access_type": "offline" if offline else "online",
        }
        if scopes:
            form["scope"] = " ".join(scopes)
        request = session.post(realm, data=form, ssl=ssl)
    else:
        query: list[tuple[str, str]] = [("service", service)] if service else []
        query += [("scope", s) for s in scopes]
        headers = {}
        if auth.get("username"):
            query.append(("account", auth["username"]))
            headers["Authorization"] = basic_header(auth["username"], auth.get("password", ""))
        if offline:
            query += [("offline_token", "true"), ("client_id", CLIENT_ID)]
        request = session.get(realm, params=query, headers=headers, ssl=ssl)
    try:
        async with request as resp:
            body = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise errors.Unavailable(f"failed to get a token from {realm}: {exc}") from None
    if status in (401, 403):
        raise errors.Unauthorized(f"unauthorized: {_token_error_text(status, body)}")
    if status != 200:
        raise errors.Unavailable(
            f"token server {realm} answered {status}: {_token_error_text(status, body)}"
        )
    try:
        doc = json.loads(body)
        value = doc.get("token") or doc.get("access_token")
        expires_in = int(doc.get("expires_in") or _DEFAULT_EXPIRES_IN)
    except (ValueError, AttributeError, TypeError):
        value = None
    if not isinstance(value, str) or not value:
        raise errors.Unavailable(f"token server {realm} sent no token")
    expires_at = time.monotonic() + max(expires_in, _DEFAULT_EXPIRES_IN) - _EXPIRY_MARGIN
    refresh = doc.get("refresh_token")
    return _Token(value, expires_at, refresh if isinstance(refresh, str) else None)
