"""The Dockerfile side of the builder as the executor takes it (contracts.Tools): the
parser, the word expansion, the context's unpacking and COPY/ADD, each the real one."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from ketch import errors
from ketch.build import context, copying, parser, substitution
from ketch.build.contracts import CopyRequest, Tools


async def unpack_context(chunks: AsyncIterator[bytes], dest: Path) -> None:
    """The request body into `dest`: spooled to a file beside it as it arrives (the
    event loop never waits on the unpacking), then unpacked by a thread."""
    spool = dest.parent / f"{dest.name}.tar"
    try:
        with open(spool, "wb") as out:
            async for chunk in chunks:
                out.write(chunk)
        with open(spool, "rb") as source:
            await asyncio.to_thread(context.unpack_context, source, dest)
    finally:
        spool.unlink(missing_ok=True)


class ContextCopier:
    """COPY and ADD (build/copying.py), URLs of ADD fetched first."""

    def copy(self, request: CopyRequest) -> None:
        if request.exclude or request.checksum:
            flag = "--exclude" if request.exclude else "--checksum"
            raise errors.NotImplementedYet(f"{flag} is not supported by this builder yet")
        chown = copying.resolve_chown(request.rootfs, request.chown) if request.chown else None
        chmod = _octal_mode(request.chmod) if request.chmod else None
        command = "ADD" if request.add else "COPY"
        urls = [s for s in request.sources if request.add and copying.is_url(s)]
        local = [s for s in request.sources if s not in urls]
        with tempfile.TemporaryDirectory(prefix="ketch-add-") as tmp:
            # One directory per URL: two URLs may end in the same file name.
            downloads = [
                copying.fetch_url(url, _made(Path(tmp) / str(index)))
                for index, url in enumerate(urls)
            ]
            copying.copy_into(
                request.rootfs, request.source_root, local, request.dest,
                workdir=request.workdir, chown=chown, chmod=chmod,
                unpack_archives=request.add, downloads=downloads, command=command,
                from_context=request.from_context, preserve_owner=request.preserve_owner,
            )  # fmt: skip

    def sources_digest(self, source_root: Path, sources: Sequence[str]) -> str:
        # A URL's content is not known before it is fetched: the URL is in the step's key.
        local = [s for s in sources if not copying.is_url(s)]
        return copying.sources_digest(source_root, local) if local else "urls-only"


def _made(directory: Path) -> Path:
    directory.mkdir()
    return directory


def _octal_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise errors.InvalidArgument(f"invalid chmod parameter: {text}") from None
    if not 0 <= mode <= 0o7777:
        raise errors.InvalidArgument(f"invalid chmod parameter: {text}")
    return mode


def real_tools() -> Tools:
    return Tools(
        parse=parser.parse,
        expand=substitution.expand,
        expand_words=substitution.expand_words,
        unpack_context=unpack_context,
        read_dockerfile=context.read_dockerfile,
        copier=ContextCopier(),
    )
