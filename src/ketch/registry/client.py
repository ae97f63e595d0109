"""Async OCI distribution client: manifests, blobs, push, login.

Every request goes through `_send`, which picks the endpoint (mirror, HTTPS,
HTTP fallback), answers auth challenges and maps failures to ketch's error
kinds. Blobs stream straight into a content store's ingest and are verified
as they arrive; nothing is committed unless its digest matches.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp

from ketch import errors
from ketch.oci import digest as digests
from ketch.oci import manifest as manifests
from ketch.oci import mediatypes
from ketch.oci import platform as platforms
from ketch.oci.reference import Reference
from ketch.registry import auth as auths
from ketch.registry.config import Endpoint, RegistryConfig, endpoints_for, login_domain
from ketch.registry.errormap import error_for

ProgressCallback = Callable[[int, int], None]
Auth = dict[str, Any] | None
_CHUNK = 256 * 1024
_LINK_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
USER_AGENT = "ketch/0.1"
_PULL = ("pull",)
_PUSH = ("pull", "push")
# Downloads under way in this process, by (content store, digest).
_IN_FLIGHT: dict[tuple[int, str], asyncio.Future[None]] = {}
T = TypeVar("T")


class BlobWriter(Protocol):
    offset: int

    def write(self, chunk: bytes) -> None: ...
    def reset(self) -> None: ...
    def commit(self) -> str: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class BlobStore(Protocol):
    """What fetch_blob needs of a content store (ketch.content.ContentStore fits)."""

    def has(self, digest: str) -> bool: ...
    def writer(self, digest: str, size: int | None = None) -> BlobWriter: ...


class _EndpointFailed(Exception):
    """The endpoint could not be used at all; the next one may be tried."""

    def __init__(self, error: errors.KetchError) -> None:
        super().__init__(error.message)
        self.error = error


def _connection_error(method: str, url: str, exc: BaseException) -> errors.Unavailable:
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, socket.gaierror):
        # A name that does not resolve (no DNS, no network): Go's words, not "errno -2".
        gai = exc.os_error
        unknown = gai.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))
        reason = "no such host" if unknown else (gai.strerror or str(gai)).lower()
        detail = f"dial tcp: lookup {exc.host}: {reason}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        number = exc.os_error.errno
        reason = os.strerror(number) if number else str(exc.os_error)
        detail = f"dial tcp {exc.host}:{exc.port}: connect: {reason.lower()}"
    elif isinstance(exc, TimeoutError):
        detail = "timed out"
    else:
        detail = str(exc) or type(exc).__name__
    return errors.Unavailable(f'{method.capitalize()} "{url}": {detail}')


class RegistryClient:
    """Use as `async with RegistryClient(config) as rc:`."""

    def __init__(self, config: RegistryConfig | None = None) -> None:
        self.config = config or RegistryConfig()
        self._session: aiohttp.ClientSession | None = None
        self._tokens = auths.TokenCache()
        self._challenges: dict[str, auths.Challenge] = {}
        # Base URL that last worked per domain, tried first next time.
        self._preferred: dict[str, str] = {}

    async def __aenter__(self) -> RegistryClient:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.config.connect_timeout, sock_read=self.config.read_timeout
        )
        self._session = aiohttp.ClientSession(
            timeout=timeout, auto_decompress=False, headers={"User-Agent": USER_AGENT}
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RegistryClient used outside `async with`")
        return self._session

    # ---- endpoint selection ------------------------------------------------

    async def _endpoints(self, domain: str, use_mirrors: bool = True) -> list[Endpoint]:
        found = await endpoints_for(domain, self.config, use_mirrors)
        preferred = self._preferred.get(domain)
        # Once HTTPS or HTTP is known to work for an insecure registry, use only that:
        # retrying the other would hide the real error behind a TLS failure.
        if preferred and not any(e.mirror for e in found):
            found = [e for e in found if e.url == preferred] or found
        return found

    async def _on_endpoints(
        self,
        domain: str,
        attempt: Callable[[Endpoint], Awaitable[T]],
        use_mirrors: bool = True,
    ) -> T:
        """Run `attempt` on each endpoint in turn until one gives an answer.

        A connection failure moves on; on a mirror any error moves on (dockerd
        falls back from a mirror whatever went wrong); on the registry itself a
        registry error is the answer.
        """
        last: errors.KetchError | None = None
        for endpoint in await self._endpoints(domain, use_mirrors):
            try:
                result = await attempt(endpoint)
            except _EndpointFailed as failed:
                last = failed.error
                continue
            except errors.KetchError as exc:
                if endpoint.mirror and not isinstance(exc, errors.InvalidArgument):
                    last = exc
                    continue
                raise
            if not endpoint.mirror:
                self._preferred[domain] = endpoint.url
            return result
        assert last is not None
        raise last

    # ---- one request, with auth ------------------------------------------

    async def _authorization(
        self,
        endpoint: Endpoint,
        scopes: list[str],
        auth: Auth,
        challenge: auths.Challenge | None = None,
    ) -> str | None:
        challenge = challenge or self._challenges.get(endpoint.url)
        if auth and auth.get("registrytoken"):
            return f"Bearer {auth['registrytoken']}"
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if auth and auth.get("username"):
                return auths.basic_header(auth["username"], auth.get("password", ""))
            return None
        if challenge.scheme == "bearer":
            token = await self._tokens.token(
                self.session, challenge, scopes, auth, ssl=endpoint.verify_tls
            )
            return f"Bearer {token.value}"
        return None

    async def _send(
        self,
        method: str,
        endpoint: Endpoint,
        path_or_url: str,
        *,
        scopes: list[str],
        auth: Auth,
        headers: dict[str, str] | None = None,
        body: Callable[[], bytes | BinaryIO] | None = None,
    ) -> aiohttp.ClientResponse:
        """Send one request, answering one auth challenge; the caller releases the response.

        `body` is a factory so the request can be sent again after a challenge.
        Connection failures raise _EndpointFailed.
        """
        url = path_or_url if "://" in path_or_url else endpoint.url + path_or_url
        for attempt in range(2):
            request_headers = dict(headers or {})
            authorization = await self._authorization(endpoint, scopes, auth)
            if authorization:
                request_headers["Authorization"] = authorization
            try:
                resp = await self.session.request(
                    method,
                    url,
                    headers=request_headers,
                    data=body() if body else None,
                    ssl=endpoint.verify_tls,
                    allow_redirects=True,
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise _EndpointFailed(_connection_error(method, url, exc)) from None
            if resp.status != 401 or attempt == 1:
                return resp
            challenges = auths.parse_challenges(resp.headers.getall("WWW-Authenticate", []))
            challenge = next((c for c in challenges if c.scheme in ("bearer", "basic")), None)
            if challenge is None or (
                challenge.scheme == "basic" and not auths.has_credentials(auth)
            ):
                return resp
            if authorization and challenge.same_authority(self._challenges.get(endpoint.url)):
                if challenge.scheme == "basic":
                    return resp  # the credentials themselves were refused
                # The cached token was refused (expired, revoked): ask for a fresh one.
                self._tokens.forget(challenge, scopes, auth)
            self._challenges[endpoint.url] = challenge
            await resp.read()
            resp.release()
        raise AssertionError("unreachable")

    async def _fail(self, resp: aiohttp.ClientResponse, context: str) -> errors.KetchError:
        body = await resp.read()
        resp.release()
        return error_for(resp.status, resp.reason or "", body, context)

    # ---- manifests ---------------------------------------------------------

    async def fetch_manifest(
        self, ref: Reference, auth: Auth = None
    ) -> manifests.Manifest | manifests.Index:
        """The manifest or index `ref` names, unresolved, its digest verified."""
        return await self._fetch_manifest(ref, ref.locator(), auth)

    async def _fetch_manifest(
        self, ref: Reference, locator: str, auth: Auth
    ) -> manifests.Manifest | manifests.Index:
        scopes = [auths.scope_for(ref.path, _PULL)]
        path = f"/v2/{ref.path}/manifests/{locator}"

        async def attempt(endpoint: Endpoint) -> manifests.Manifest | manifests.Index:
            resp = await self._send(
                "GET",
                endpoint,
                path,
                scopes=scopes,
                auth=auth,
                headers={"Accept": ", ".join(mediatypes.ACCEPTED_MANIFESTS)},
            )
            if resp.status != 200:
                if resp.status == 404:
                    body = await resp.read()
                    resp.release()
                    detail = error_for(404, "", body).message
                    raise errors.NotFound(
                        f"manifest for {_shown(ref, locator)} not found: {detail}"
                    )
                raise await self._fail(resp, f"{ref.familiar_name}")
            try:
                raw = await _read_limited(resp, manifests.MAX_MANIFEST_SIZE)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _EndpointFailed(_connection_error("GET", endpoint.url + path, exc)) from None
            finally:
                resp.release()
            content_type = resp.headers.get("Content-Type")
            return self._verified_manifest(ref, locator, raw, content_type, resp.headers)

        return await self._on_endpoints(ref.domain, attempt)

    @staticmethod
    def _verified_manifest(
        ref: Reference,
        locator: str,
        raw: bytes,
        content_type: str | None,
        headers: Mapping[str, str],
    ) -> manifests.Manifest | manifests.Index:
        expected: str | None
        if locator.count(":") == 1 and locator.split(":", 1)[0] in ("sha256", "sha384", "sha512"):
            expected = locator
        else:
            expected = headers.get("Docker-Content-Digest") or None
        if expected:
            hasher = digests.hasher(expected)
            hasher.update(raw)
            actual = f"{digests.algorithm(expected)}:{hasher.hexdigest()}"
            if actual != expected:
                raise errors.InvalidArgument(
                    f"manifest verification failed for {ref.familiar_name}: "
                    f"digest mismatch: expected {expected}, got {actual}"
                )
        return manifests.parse(raw, content_type, expected or None)

    async def resolve(self, ref: Reference, auth: Auth = None) -> manifests.Descriptor:
        """What `ref` points at now (a HEAD request), to tell whether a local copy is current."""
        scopes = [auths.scope_for(ref.path, _PULL)]
        path = f"/v2/{ref.path}/manifests/{ref.locator()}"

        async def attempt(endpoint: Endpoint) -> manifests.Descriptor:
            resp = await self._send(
                "HEAD", endpoint, path, scopes=scopes, auth=auth,
                headers={"Accept": ", ".join(mediatypes.ACCEPTED_MANIFESTS)},
            )  # fmt: skip
            resp.release()
            if resp.status == 404:
                raise errors.NotFound(
                    f"manifest for {_shown(ref, ref.locator())} not found: "
                    "manifest unknown: manifest unknown"
                )
            if resp.status != 200:
                raise error_for(resp.status, resp.reason or "", b"", ref.familiar_name)
            digest = resp.headers.get("Docker-Content-Digest")
            media_type = (resp.headers.get("Content-Type") or "").split(";", 1)[0].strip()
            size = resp.headers.get("Content-Length", "")
            if digest and media_type and size.isdigit():
                return manifests.Descriptor(media_type, digests.validate(digest), int(size))
            # Some registries answer HEAD without the digest: read the manifest instead.
            found = await self._fetch_manifest(ref, ref.locator(), auth)
            return manifests.Descriptor(found.media_type, found.digest, len(found.raw))

        return await self._on_endpoints(ref.domain, attempt)

    async def list_tags(
        self, ref: Reference, auth: Auth = None, page_size: int = 1000
    ) -> list[str]:
        """Every tag of the repository, following the registry's pagination."""
        scopes = [auths.scope_for(ref.path, _PULL)]

        async def attempt(endpoint: Endpoint) -> list[str]:
            tags: list[str] = []
            next_path: str | None = f"/v2/{ref.path}/tags/list?n={page_size}"
            while next_path:
                resp = await self._send("GET", endpoint, next_path, scopes=scopes, auth=auth)
                if resp.status != 200:
                    raise await self._fail(resp, ref.familiar_name)
                try:
                    doc = await resp.json(content_type=None)
                except (aiohttp.ClientError, ValueError) as exc:
                    raise errors.Unavailable(f"bad tag list from {endpoint.url}: {exc}") from None
                finally:
                    resp.release()
                page = doc.get("tags") if isinstance(doc, dict) else None
                tags.extend(t for t in page or [] if isinstance(t, str))
                link = _LINK_NEXT_RE.search(resp.headers.get("Link", ""))
                next_path = urljoin(endpoint.url + "/", link.group(1)) if link else None
            return tags

        return await self._on_endpoints(ref.domain, attempt)

    async def get_manifest(
        self, ref: Reference, platform: dict[str, Any] | None = None, auth: Auth = None
    ) -> manifests.Manifest:
        """The image manifest for `ref` on `platform` (default: this host), through any index."""
        found = await self.fetch_manifest(ref, auth)
        if isinstance(found, manifests.Manifest):
            return found
        wanted = platform or platforms.host_platform()
        candidates = [m for m in found.manifests if m.media_type in mediatypes.MANIFESTS]
        chosen = platforms.select(candidates, wanted)
        if chosen is None:
            raise errors.NotFound(
                f"no matching manifest for {platforms.format_platform(wanted)} "
                "in the manifest list entries"
            )
        image = await self._fetch_manifest(ref, chosen.digest, auth)
        if not isinstance(image, manifests.Manifest):
            raise errors.InvalidArgument(
                f"invalid manifest: index entry {chosen.digest} is not an image manifest"
            )
        return dataclasses.replace(image, index_digest=found.digest)

    # ---- blobs -------------------------------------------------------------

    async def fetch_blob(
        self,
        ref: Reference,
        desc: manifests.Descriptor,
        content_store: BlobStore,
        progress: ProgressCallback | None = None,
        auth: Auth = None,
    ) -> str:
        """Download `desc` into `content_store`, verified; resumes a partial ingest.

        Two pulls sharing a layer download it once: a second caller for the same
        store and digest waits for the first, then finds the blob committed.
        """
        key = (id(content_store), desc.digest)
        while (running := _IN_FLIGHT.get(key)) is not None:
            await asyncio.wait([running])
        if content_store.has(desc.digest):
            if progress:
                progress(desc.size, desc.size)
            return desc.digest
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        _IN_FLIGHT[key] = done
        try:
            writer = content_store.writer(desc.digest, desc.size)
            try:

                async def attempt(endpoint: Endpoint) -> str:
                    return await self._stream_blob(endpoint, ref, desc, writer, progress, auth)

                return await self._on_endpoints(ref.domain, attempt)
            finally:
                # After commit or abort a no-op; otherwise the partial stays for a resume.
                writer.close()
        finally:
            del _IN_FLIGHT[key]
            done.set_result(None)

    async def _stream_blob(
        self,
        endpoint: Endpoint,
        ref: Reference,
        desc: manifests.Descriptor,
        writer: BlobWriter,
        progress: ProgressCallback | None,
        auth: Auth,
    ) -> str:
        path = f"/v2/{ref.path}/blobs/{desc.digest}"
        url = endpoint.url + path
        scopes = [auths.scope_for(ref.path, _PULL)]
        for _ in range(2):
            headers = {"Range": f"bytes={writer.offset}-"} if writer.offset else {}
            resp = await self._send(
                "GET", endpoint, path, scopes=scopes, auth=auth, headers=headers
            )
            if resp.status == 416 and writer.offset:
                resp.release()
                writer.reset()  # the partial is not a prefix the server knows: start over
                continue
            if resp.status == 206:
                match = _CONTENT_RANGE_RE.match(resp.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != writer.offset:
                    resp.release()
                    writer.reset()
                    continue
            elif resp.status == 200:
                if writer.offset:
                    writer.reset()  # Range ignored: the whole blob comes again
            else:
                raise await self._fail(resp, f"failed to fetch blob {desc.digest}")
            break
        else:
            raise errors.Unavailable(f"registry would not serve {desc.digest} from a valid offset")
        try:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                writer.write(chunk)
                if progress:
                    progress(writer.offset, desc.size)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _EndpointFailed(self._cut(desc, writer, url, exc)) from None
        finally:
            resp.release()
        if writer.offset < desc.size:
            raise _EndpointFailed(self._cut(desc, writer, url, None))
        try:
            return await _off_loop(writer.commit)
        except errors.InvalidArgument as exc:
            raise errors.InvalidArgument(
                f"failed to verify blob of {ref.familiar_name} from {endpoint.url}: {exc.message}"
            ) from None

    @staticmethod
    def _cut(
        desc: manifests.Descriptor, writer: BlobWriter, url: str, exc: BaseException | None
    ) -> errors.Unavailable:
        why = f": {exc}" if exc else ""
        return errors.Unavailable(
            f'GET "{url}": connection closed after {writer.offset} of {desc.size} bytes{why}; '
            "the partial download is kept and the next attempt resumes it"
        )

    async def push_blob(
        self,
        ref: Reference,
        data_or_path: bytes | Path,
        digest: str,
        auth: Auth = None,
        mount_from: Sequence[str] = (),
        on_mount: Callable[[str], None] | None = None,
    ) -> str:
        """Upload a blob unless the registry has it (monolithic POST then PUT).

        `mount_from` names repositories of the same registry that hold the blob:
        the first is asked to lend it (a cross-repository mount, as dockerd does),
        which costs no upload when it works; `on_mount(repository)` then hears of it.
        A registry that cannot mount opens an upload instead, which is used.
        """
        digests.validate(digest)
        source = next(iter(mount_from), None)
        scopes = [auths.scope_for(ref.path, _PUSH)]
        if source:
            scopes.append(auths.scope_for(source, _PULL))
        blob_path = f"/v2/{ref.path}/blobs/{digest}"
        if isinstance(data_or_path, bytes | bytearray):
            size = len(data_or_path)

            def body() -> bytes | BinaryIO:
                return bytes(data_or_path)
        else:
            file_path = Path(data_or_path)
            size = file_path.stat().st_size

            def body() -> bytes | BinaryIO:
                return file_path.open("rb")

        async def attempt(endpoint: Endpoint) -> str:
            head = await self._send("HEAD", endpoint, blob_path, scopes=scopes, auth=auth)
            head.release()
            if head.status == 200:
                return digest
            if head.status != 404:
                raise error_for(
                    head.status, head.reason or "", b"", f"failed to check blob {digest}"
                )
            start_path = f"/v2/{ref.path}/blobs/uploads/"
            if source:
                start_path += "?" + urlencode({"mount": digest, "from": source})
            start = await self._send(
                "POST", endpoint, start_path, scopes=scopes, auth=auth,
                headers={"Content-Length": "0"},
            )  # fmt: skip
            if start.status == 201 and source:
                start.release()
                if on_mount:
                    on_mount(source)
                return digest
            if start.status != 202:
                raise await self._fail(start, f"failed to start upload of {digest}")
            # Not mountable (or no mount asked): the registry opened an upload instead.
            location = start.headers.get("Location", "")
            start.release()
            if not location:
                raise errors.Unavailable("registry started an upload without a Location")
            upload = urljoin(endpoint.url + "/", location)
            upload += ("&" if urlsplit(upload).query else "?") + f"digest={digest}"
            put = await self._send(
                "PUT", endpoint, upload, scopes=scopes, auth=auth, body=body,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            )  # fmt: skip
            if put.status != 201:
                raise await self._fail(put, f"failed to upload blob {digest}")
            put.release()
            return digest

        return await self._on_endpoints(ref.domain, attempt, use_mirrors=False)

    async def push_manifest(
        self, ref: Reference, raw: bytes, media_type: str, auth: Auth = None
    ) -> str:
        """PUT a manifest or index under the ref's tag (or digest); returns its digest."""
        scopes = [auths.scope_for(ref.path, _PUSH)]
        path = f"/v2/{ref.path}/manifests/{ref.locator()}"

        async def attempt(endpoint: Endpoint) -> str:
            resp = await self._send(
                "PUT", endpoint, path, scopes=scopes, auth=auth, body=lambda: raw,
                headers={"Content-Type": media_type},
            )  # fmt: skip
            if resp.status != 201:
                raise await self._fail(resp, f"failed to push manifest for {ref.familiar()}")
            resp.release()
            return resp.headers.get("Docker-Content-Digest") or digests.sha256_digest(raw)

        return await self._on_endpoints(ref.domain, attempt, use_mirrors=False)

    # ---- login -------------------------------------------------------------

    async def login(self, server: str, auth: dict[str, Any]) -> dict[str, str]:
        """Check credentials against `server` as `POST /auth` does.

        Returns `{"Status": "Login Succeeded", "IdentityToken": ...}`; raises
        errors.Unauthorized when the registry refuses them.
        """
        domain = login_domain(server or auth.get("serveraddress", ""))

        async def attempt(endpoint: Endpoint) -> dict[str, str]:
            url = endpoint.url + "/v2/"
            ssl = endpoint.verify_tls
            try:
                async with self.session.get(url, ssl=ssl) as probe:
                    await probe.read()
                    status = probe.status
                    challenges = auths.parse_challenges(
                        probe.headers.getall("WWW-Authenticate", [])
                    )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise _EndpointFailed(_connection_error("GET", url, exc)) from None
            if status == 200:
                return {"Status": "Login Succeeded", "IdentityToken": ""}
            if status != 401 or not challenges:
                raise errors.Unavailable(f'Get "{url}": unexpected status {status}')
            challenge = next((c for c in challenges if c.scheme in ("bearer", "basic")), None)
            identity = ""
            if challenge is None:
                raise errors.Unavailable(f'Get "{url}": unsupported auth scheme')
            if challenge.scheme == "bearer":
                token = await self._tokens.token(
                    self.session, challenge, [], auth, ssl=endpoint.verify_tls, offline=True
                )
                header = f"Bearer {token.value}"
                identity = token.refresh_token or ""
            else:
                header = auths.basic_header(auth.get("username", ""), auth.get("password", ""))
            try:
                async with self.session.get(
                    url, ssl=ssl, headers={"Authorization": header}
                ) as check:
                    await check.read()
                    status = check.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise _EndpointFailed(_connection_error("GET", url, exc)) from None
            if status in (401, 403):
                raise errors.Unauthorized(
                    f"login attempt to {url} failed with status: {status} "
                    f"{'Unauthorized' if status == 401 else 'Forbidden'}"
                )
            if status != 200:
                raise errors.Unavailable(f'Get "{url}": unexpected status {status}')
            return {"Status": "Login Succeeded", "IdentityToken": identity}

        return await self._on_endpoints(domain, attempt, use_mirrors=False)


async def _off_loop(work: Callable[[], T]) -> T:
    """`work()` in a worker thread, so a big blob's fsync does not stall the event loop.

    Cancelled, it still waits for `work` to end: the writer is not the caller's to
    close while the thread holds it."""
    running = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait([running])
        raise


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, refused once it passes `limit` bytes (a registry is not trusted)."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        body += chunk
        if len(body) > limit:
            raise errors.InvalidArgument(f"invalid manifest: larger than {limit} bytes")
    return bytes(body)


def _shown(ref: Reference, locator: str) -> str:
    """How Docker names what was asked for: `x:tag`, or `x@sha256:...` for a digest."""
    if locator == ref.tag:
        return ref.with_tag(locator).familiar()
    return f"{ref.familiar_name}@{locator}"
