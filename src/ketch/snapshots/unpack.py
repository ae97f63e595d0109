"""Unpack one layer's tar stream into an empty directory, safely.

tarfile's extraction filters strip what images need (setuid bits, owners,
devices), so safety comes from here instead: every entry name is normalised
and must stay inside the layer, every parent directory is opened component
by component with O_NOFOLLOW relative to its parent's descriptor (so a
symlink in the layer can never redirect a write), and hard links must name
an entry of the same layer. Whiteouts are translated to overlay's form.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ketch import errors
from ketch.atomicfile import write_all
from ketch.snapshots.decompress import Readable

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
# Other ".wh..wh." names are aufs bookkeeping, meaningless to overlay.
AUFS_META_PREFIX = ".wh..wh."
OPAQUE_XATTR = "trusted.overlay.opaque"
PAX_XATTR_PREFIX = "SCHILY.xattr."
# A layer must not be able to set overlay's own attributes (redirects, origins).
FORBIDDEN_XATTR_PREFIX = "trusted.overlay."

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
COPY_CHUNK = 1 << 20
# tarfile's stream reader (private): a member's data is read from under it, see
# copy_member_data; without it (another Python) extractfile does the work.
_TAR_STREAM: type | None = getattr(tarfile, "_Stream", None)
# tarfile's stream slices its whole buffer for every 512-byte header it reads:
# a large buffer makes small files slow, a tiny one makes large files slow.
TAR_BUFFER = 64 << 10


def bad_entry(name: str, why: str, what: str = "layer") -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid {what} entry {name!r}: {why}")


def clean_name(name: str, what: str = "layer") -> list[str]:
    """An entry's path as components inside the layer; [] is the layer's root.

    Lexical normalisation, so `a/../b` is `b`; a leading `/` or a `..` that
    climbs above the root is refused rather than silently rewritten.
    """
    if name.startswith("/"):
        raise bad_entry(name, "absolute path", what)
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise bad_entry(name, f"path escapes the {what}", what)
            parts.pop()
            continue
        parts.append(part)
    return parts


def mtime_ns(member: tarfile.TarInfo) -> int:
    return int(member.mtime * 1_000_000_000)


def pax_xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for key, value in member.pax_headers.items():
        if key.startswith(PAX_XATTR_PREFIX):
            name = key[len(PAX_XATTR_PREFIX) :]
            if name.startswith(FORBIDDEN_XATTR_PREFIX):
                continue
            # tarfile decoded the raw bytes with surrogateescape; undo it exactly.
            found[name] = value.encode("utf-8", "surrogateescape")
    return found


class LayerUnpacker:
    """Writes the entries of one tar stream under `dest`, which must be empty.

    The build context is unpacked by it too (`what="build context"`): there a `.wh.`
    name is an ordinary file and a device node is refused."""

    def __init__(
        self,
        dest: Path,
        *,
        what: str = "layer",
        whiteouts: bool = True,
        devices: bool = True,
        open_end: bool = False,
    ) -> None:
        self._what = what
        self._whiteouts = whiteouts
        self._devices = devices
        # A tar may end after its last member's data, without padding or end blocks
        # (the docker CLI's build context with a Dockerfile it added: Go's tar reader
        # takes that end for the end).
        self._open_end = open_end
        self._root_fd = os.open(dest, DIR_FLAGS)
        self._dir_mtimes: dict[tuple[str, ...], int] = {}
        # The last parent opened, reused while consecutive entries share it.
        self._cached_parent: tuple[tuple[str, ...], int] | None = None
        self.size = 0

    def close(self) -> None:
        self._drop_cached_parent()
        os.close(self._root_fd)

    def unpack(self, stream: Readable) -> None:
        try:
            with tarfile.open(fileobj=stream, mode="r|", bufsize=TAR_BUFFER) as tar:  # type: ignore[call-overload]
                members = iter(tar)
                while (member := self._next_member(members)) is not None:
                    self._unpack_entry(tar, member)
        except errors.KetchError:
            raise
        except (tarfile.TarError, EOFError, ValueError) as exc:
            raise errors.InvalidArgument(f"invalid {self._what}: {exc}") from exc
        self._restore_dir_mtimes()

    def _next_member(self, members: Iterator[tarfile.TarInfo]) -> tarfile.TarInfo | None:
        try:
            return next(members)
        except StopIteration:
            return None
        except tarfile.ReadError as exc:
            # Each member's data is read in full before the next header is looked for, so
            # here nothing but the padding after it and the end blocks can be missing.
            if self._open_end and str(exc) == "unexpected end of data":
                return None
            raise

    # -- one entry ---------------------------------------------------------

    def _unpack_entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean_name(member.name, self._what)
        try:
            if not parts:
                self._apply_root(member)
                return
            parent, base = tuple(parts[:-1]), parts[-1]
            parent_fd = self._open_parent(parent, member.name)
            if self._whiteouts and base.startswith(WHITEOUT_PREFIX):
                self._whiteout(parent_fd, parent, base, member)
            elif member.isdir():
                self._directory(parent_fd, parent + (base,), base, member)
            else:
                self._replace_existing(parent_fd, base)
                self._non_directory(tar, parent_fd, base, member)
        except OSError as exc:
            raise bad_entry(member.name, exc.strerror or str(exc), self._what) from exc

    def _non_directory(
        self, tar: tarfile.TarFile, parent_fd: int, base: str, member: tarfile.TarInfo
    ) -> None:
        if member.isreg():
            self._regular_file(tar, parent_fd, base, member)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=parent_fd)
            self._apply_path_metadata(parent_fd, base, member, is_symlink=True)
        elif member.islnk():
            self._hard_link(parent_fd, base, member)
        elif (member.ischr() or member.isblk()) and not self._devices:
            raise bad_entry(member.name, "device nodes are refused", self._what)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
            os.mknod(base, kind | 0o600, device, dir_fd=parent_fd)
            self._apply_path_metadata(parent_fd, base, member, is_symlink=False)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent_fd)
            self._apply_path_metadata(parent_fd, base, member, is_symlink=False)
        else:
            why = f"unsupported tar entry type {member.type!r}"
            raise bad_entry(member.name, why, self._what)

    def _regular_file(
        self, tar: tarfile.TarFile, parent_fd: int, base: str, member: tarfile.TarInfo
    ) -> None:
        fd = os.open(base, FILE_FLAGS, 0o600, dir_fd=parent_fd)
        try:
            if not copy_member_data(tar, member, fd):
                source = tar.extractfile(member)
                if source is not None:
                    while chunk := source.read(COPY_CHUNK):
                        write_all(fd, chunk)
            self._apply_fd_metadata(fd, member)
        finally:
            os.close(fd)
        self.size += member.size

    def _hard_link(self, parent_fd: int, base: str, member: tarfile.TarInfo) -> None:
        try:
            target = clean_name(member.linkname, self._what)
        except errors.InvalidArgument as exc:
            why = f"hard link target {member.linkname!r} outside the {self._what}"
            raise bad_entry(member.name, why, self._what) from exc
        if not target:
            raise bad_entry(member.name, f"hard link to the {self._what}'s root", self._what)
        why = f"hard link target {member.linkname!r} not in the {self._what}"
        missing = bad_entry(member.name, why, self._what)
        try:
            target_parent = self._walk(tuple(target[:-1]), create=False, name=member.name)
        except FileNotFoundError as exc:
            raise missing from exc
        try:
            os.lstat(target[-1], dir_fd=target_parent)
            os.link(
                target[-1],
                base,
                src_dir_fd=target_parent,
                dst_dir_fd=parent_fd,
                follow_symlinks=False,
            )
        except FileNotFoundError as exc:
            raise missing from exc
        finally:
            os.close(target_parent)

    def _directory(
        self, parent_fd: int, path: tuple[str, ...], base: str, member: tarfile.TarInfo
    ) -> None:
        try:
            existing = os.lstat(base, dir_fd=parent_fd)
        except FileNotFoundError:
            existing = None
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            self._replace_existing(parent_fd, base)
            existing = None
        if existing is None:
            os.mkdir(base, 0o700, dir_fd=parent_fd)
        fd = os.open(base, DIR_FLAGS, dir_fd=parent_fd)
        try:
            self._apply_fd_metadata(fd, member, set_times=False)
        finally:
            os.close(fd)
        # Children change a directory's mtime: set it once all entries are in.
        self._dir_mtimes[path] = mtime_ns(member)

    def _whiteout(
        self, parent_fd: int, parent: tuple[str, ...], base: str, member: tarfile.TarInfo
    ) -> None:
        if base == OPAQUE_MARKER:
            os.setxattr(parent_fd, OPAQUE_XATTR, b"y")
            return
        if base.startswith(AUFS_META_PREFIX):
            return
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in ("", ".", ".."):
            raise bad_entry(member.name, "whiteout of nothing")
        self._replace_existing(parent_fd, hidden)
        # Overlay's whiteout: a character device 0:0 with the hidden name.
        os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent_fd)
        os.chown(hidden, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)

    def _apply_root(self, member: tarfile.TarInfo) -> None:
        if not member.isdir():
            why = f"the {self._what}'s root must be a directory"
            raise bad_entry(member.name, why, self._what)
        self._apply_fd_metadata(self._root_fd, member, set_times=False)
        self._dir_mtimes[()] = mtime_ns(member)

    # -- metadata ----------------------------------------------------------

    def _apply_fd_metadata(self, fd: int, member: tarfile.TarInfo, set_times: bool = True) -> None:
        # Owner before mode: chown clears setuid/setgid bits.
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)
        for name, value in pax_xattrs(member).items():
            set_xattr(fd, name, value, is_symlink=False)
        if set_times:
            when = mtime_ns(member)
            os.utime(fd, ns=(when, when))

    def _apply_path_metadata(
        self, parent_fd: int, base: str, member: tarfile.TarInfo, is_symlink: bool
    ) -> None:
        os.chown(base, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)
        if not is_symlink:
            # Just created by us in a private directory, and not a symlink.
            os.chmod(base, member.mode & 0o7777, dir_fd=parent_fd)
        # setxattr has no *at form: the parent's fd link plus a no-follow leaf.
        proc_path = f"/proc/self/fd/{parent_fd}/{base}"
        for name, value in pax_xattrs(member).items():
            set_xattr(proc_path, name, value, is_symlink=is_symlink)
        when = mtime_ns(member)
        os.utime(base, ns=(when, when), dir_fd=parent_fd, follow_symlinks=False)

    def _restore_dir_mtimes(self) -> None:
        # Deepest first, so setting a child's time does not disturb its parent's.
        for path in sorted(self._dir_mtimes, key=len, reverse=True):
            when = self._dir_mtimes[path]
            if not path:
                os.utime(self._root_fd, ns=(when, when))
                continue
            try:
                fd = self._walk(path, create=False)
            except (OSError, errors.InvalidArgument):
                continue  # replaced or whited out by a later entry
            try:
                os.utime(fd, ns=(when, when))
            finally:
                os.close(fd)

    # -- safe path walking -------------------------------------------------

    def _open_parent(self, parent: tuple[str, ...], name: str, create: bool = True) -> int:
        """A descriptor of the entry's parent directory, owned by the cache."""
        if self._cached_parent is not None and self._cached_parent[0] == parent:
            return self._cached_parent[1]
        fd = self._walk(parent, create=create, name=name)
        self._drop_cached_parent()
        self._cached_parent = (parent, fd)
        return fd

    def _drop_cached_parent(self) -> None:
        if self._cached_parent is not None:
            os.close(self._cached_parent[1])
            self._cached_parent = None

    def _walk(self, path: tuple[str, ...], create: bool, name: str = "") -> int:
        fd = os.dup(self._root_fd)
        try:
            for component in path:
                try:
                    next_fd = os.open(component, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    # Parents missing from the tar are made as Docker makes them.
                    os.mkdir(component, 0o755, dir_fd=fd)
                    next_fd = os.open(component, DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise bad_entry(
                            name or "/".join(path),
                            f"parent {component!r} is a symlink or not a directory",
                            self._what,
                        ) from exc
                    raise
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _replace_existing(self, parent_fd: int, base: str) -> None:
        """Remove what a later entry replaces; never write into an existing inode."""
        try:
            existing = os.lstat(base, dir_fd=parent_fd)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(existing.st_mode):
            # parent_fd is the cached parent itself, never inside the removed tree.
            shutil.rmtree(base, dir_fd=parent_fd)
        else:
            os.unlink(base, dir_fd=parent_fd)


def copy_member_data(tar: tarfile.TarFile, member: tarfile.TarInfo, fd: int) -> bool:
    """Write a member's data to `fd` straight from the stream under tarfile's reader.

    extractfile's reader copies every byte three times more (tarfile's stream joins
    and slices its buffer, then a BufferedReader and _FileInFile copy again): for a
    large layer that was most of the unpacking's CPU. This reads the stream's own
    leftover bytes first, then the source in large reads, and keeps the stream's
    position as tarfile would, so the next header is found where it expects.
    False (nothing read) when the stream is not the plain kind this relies on.
    """
    if _TAR_STREAM is None or not isinstance(tar.fileobj, _TAR_STREAM):
        return False
    stream: Any = tar.fileobj
    plain = (
        stream.comptype == "tar"
        and not member.issparse()
        and stream.pos == member.offset_data
    )
    if not plain:
        return False
    remaining = member.size
    pending: bytes = stream.buf
    if pending:
        head = pending[:remaining]
        stream.buf = pending[len(head) :]
        stream.pos += len(head)
        remaining -= len(head)
        # A short write when the disk fills is finished, so the next
        # write's ENOSPC is the error, never a silently cut file.
        write_all(fd, head)
    source = stream.fileobj
    while remaining:
        chunk = source.read(min(COPY_CHUNK, remaining))
        if not chunk:
            raise tarfile.ReadError("unexpected end of data")
        stream.pos += len(chunk)
        remaining -= len(chunk)
        write_all(fd, chunk)
    return True


def set_xattr(target: int | str, name: str, value: bytes, is_symlink: bool) -> None:
    try:
        if isinstance(target, int):
            os.setxattr(target, name, value)
        else:
            os.setxattr(target, name, value, follow_symlinks=False)
    except OSError as exc:
        # Filesystems without xattrs, and user.* on symlinks, are skipped as Docker does.
        if exc.errno == errno.ENOTSUP or (is_symlink and exc.errno == errno.EPERM):
            return
        raise
