"""COPY and ADD: files from a source root (the build context, another stage's or an
image's root) into a container's mounted root file system, as dockerd's legacy
builder copies them.

Paths are resolved as a chroot would: a symlink in the source or in the image is
followed inside its own root, never out of it (`resolve_scoped`, dockerd's
SecureJoin); then every directory is opened component by component with
O_NOFOLLOW, so a symlink swapped in meanwhile cannot redirect a write.

Docker's rules kept here: a source word may hold Go filepath.Match wildcards
(matched against the source root's paths of the same depth); a directory source
copies its contents, not itself; a top-level symlink source is followed, symlinks
below are copied as links; the destination is a directory when it ends with `/` or
already is one, and must end with `/` when there are several sources; a relative
destination is under WORKDIR; missing parents are made 0755 and, like every copied
entry, owned by root or the --chown user; modes and mtimes are kept (--chmod sets
the mode of what is copied); ADD unpacks a local tar (plain, gzip, bzip2, xz, zstd)
with its own owners into the destination, which is then its root (a chroot, as
dockerd's chrootarchive).
"""

from __future__ import annotations

import email.message
import email.utils
import errno
import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ketch.atomicfile import write_all
from ketch.build.context import decompressed
from ketch.dockerignore import check_match_syntax, go_clean
from ketch.errors import InvalidArgument, KetchError
from ketch.runtime.users import parse_group, parse_passwd

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINKS = 255
CHUNK = 1 << 20
CAPABILITY_XATTR = "security.capability"  # the one xattr Docker's tar carries
ROOT = (0, 0)


class CopyError(InvalidArgument):
    """A COPY/ADD that cannot be done, in Docker's words."""


# -- paths inside a root ---------------------------------------------------


def resolve_scoped(root: Path, path: str) -> list[str]:
    """`path`'s components inside `root`, every symlink followed as in a chroot (an
    absolute target starts again at `root`, `..` stops at it); components that do not
    exist are kept as written. dockerd's SecureJoin."""
    pending = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise CopyError(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        resolved.append(part)
    return resolved


def open_dir(root_fd: int, parts: Sequence[str], create: tuple[int, int] | None) -> int:
    """A descriptor of the directory `parts` (already resolved) under root_fd, never
    through a symlink; missing ones are made 0755 and owned by `create` (None: they
    must exist)."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if create is None:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
                os.fchown(next_fd, *create)
                os.fchmod(next_fd, 0o755)  # whatever the umask
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = "/".join(parts)
                    raise CopyError(f"cannot copy into {where}: {part} is not a directory") from exc
                raise
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None


def _remove_at(dir_fd: int, name: str, existing: os.stat_result | None) -> None:
    if existing is None:
        return
    if stat.S_ISDIR(existing.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


# -- sources -----------------------------------------------------------------


def has_wildcards(word: str) -> bool:
    """Docker's containsWildcards: `*`, `?` or `[` not escaped by a backslash."""
    escaped = False
    for ch in word:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "*?[":
            return True
    return False


def go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match: `*` and `?` never match `/`, `[...]` classes, `\\` escapes."""
    try:
        check_match_syntax(pattern)
    except KetchError:
        return False
    return _match_here(pattern, 0, name, 0)


def _match_here(p: str, i: int, s: str, j: int) -> bool:
    while i < len(p):
        ch = p[i]
        if ch == "*":
            while i < len(p) and p[i] == "*":
                i += 1
            for k in range(j, len(s) + 1):
                if _match_here(p, i, s, k):
                    return True
                if k < len(s) and s[k] == "/":
                    return False
            return False
        if j >= len(s):
            return False
        if ch == "?":
            if s[j] == "/":
                return False
            i, j = i + 1, j + 1
        elif ch == "[":
            i, ok = _match_class(p, i + 1, s[j])
            if not ok:
                return False
            j += 1
        else:
            if ch == "\\":
                i += 1
            if p[i] != s[j]:
                return False
            i, j = i + 1, j + 1
    return j == len(s)


def _match_class(p: str, i: int, ch: str) -> tuple[int, bool]:
    negated = i < len(p) and p[i] == "^"
    if negated:
        i += 1
    matched, first = False, True
    while first or p[i] != "]":
        first = False
        low, i = _class_char(p, i)
        high = low
        if p[i] == "-":
            high, i = _class_char(p, i + 1)
        if low <= ch <= high:
            matched = True
    return i + 1, matched != negated and ch != "/"


def _class_char(p: str, i: int) -> tuple[str, int]:
    if p[i] == "\\":
        i += 1
    return p[i], i + 1


def _walk_rel(root: Path) -> Iterator[str]:
    """Every path under root, relative, in Go's WalkDir order (symlinks not entered)."""

    def walk(rel: str) -> Iterator[str]:
        try:
            names = sorted(os.listdir(root / rel if rel else root), key=os.fsencode)
        except (NotADirectoryError, FileNotFoundError):
            return
        for name in names:
            child = f"{rel}/{name}" if rel else name
            yield child
            if stat.S_ISDIR(os.lstat(root / child).st_mode):
                yield from walk(child)

    return walk("")


def clean_source(word: str) -> str:
    """As dockerd: a leading `/` or `./` means the source root."""
    return word.removeprefix("/").removeprefix("./")


def expand_sources(
    source_root: Path, words: Sequence[str], *, command: str = "COPY", from_context: bool = True
) -> list[str]:
    """Each source word's matches (relative paths), wildcards expanded in walk order."""
    matches: list[str] = []
    for word in words:
        cleaned = clean_source(word)
        if has_wildcards(cleaned):
            found = [rel for rel in _walk_rel(source_root) if go_match(cleaned, rel)]
        else:
            found = [cleaned]
        for rel in found:
            # Resolved, symlinks followed inside the root: a dangling one is missing too.
            if not os.path.lexists(source_root.joinpath(*resolve_scoped(source_root, rel))):
                where = "file not found in build context or excluded by .dockerignore: "
                raise CopyError(
                    f"{command} failed: {where if from_context else ''}"
                    f"stat {rel or '.'}: file does not exist"
                )
        matches.extend(found)
    return matches


# -- copying -----------------------------------------------------------------


@dataclass
class _Copier:
    owner: tuple[int, int]  # of what it copies, and of the parents it makes
    chmod: int | None
    preserve_owner: bool = False  # COPY --from without --chown: each source's own owner
    # (st_dev, st_ino) of a source file copied in this instruction -> where it went,
    # so hard links among the sources stay hard links.
    linked: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)
    dir_times: list[tuple[int, int]] = field(default_factory=list)
    open_fds: list[int] = field(default_factory=list)

    def close(self) -> None:
        for fd in self.open_fds:
            os.close(fd)
        self.open_fds.clear()

    def owner_of(self, st: os.stat_result) -> tuple[int, int]:
        return (st.st_uid, st.st_gid) if self.preserve_owner else self.owner

    def mode_of(self, st: os.stat_result) -> int:
        return self.chmod if self.chmod is not None else stat.S_IMODE(st.st_mode)

    def copy_entry(self, src_dir: int, name: str, st: os.stat_result, dst_dir: int,
                   dst_name: str) -> None:  # fmt: skip
        existing = _lstat_at(dst_dir, dst_name)
        if stat.S_ISDIR(st.st_mode):
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                _remove_at(dst_dir, dst_name, existing)
                existing = None
            if existing is None:
                os.mkdir(dst_name, 0o700, dir_fd=dst_dir)
            src_fd = os.open(name, DIR_FLAGS, dir_fd=src_dir)
            dst_fd = os.open(dst_name, DIR_FLAGS, dir_fd=dst_dir)
            try:
                os.fchown(dst_fd, *self.owner_of(st))
                os.fchmod(dst_fd, self.mode_of(st))
                self.copy_contents(src_fd, dst_fd)
                os.utime(dst_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(src_fd)
                os.close(dst_fd)
            return
        _remove_at(dst_dir, dst_name, existing)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and not stat.S_ISLNK(st.st_mode) and key in self.linked:
            first_dir, first_name = self.linked[key]
            os.link(first_name, dst_name, src_dir_fd=first_dir, dst_dir_fd=dst_dir,
                    follow_symlinks=False)  # fmt: skip
            return
        if stat.S_ISREG(st.st_mode):
            self.copy_file(src_dir, name, st, dst_dir, dst_name)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src_dir), dst_name, dir_fd=dst_dir)
            os.chown(dst_name, *self.owner_of(st), dir_fd=dst_dir, follow_symlinks=False)
            os.utime(dst_name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_dir,
                     follow_symlinks=False)  # fmt: skip
            return
        elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            os.mknod(dst_name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=dst_dir)
            os.chown(dst_name, *self.owner_of(st), dir_fd=dst_dir, follow_symlinks=False)
            os.chmod(dst_name, self.mode_of(st), dir_fd=dst_dir, follow_symlinks=False)
            os.utime(dst_name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_dir,
                     follow_symlinks=False)  # fmt: skip
        else:
            return  # sockets are not copied, as Docker's tar leaves them out
        if st.st_nlink > 1:
            keep = os.dup(dst_dir)
            self.open_fds.append(keep)
            self.linked[key] = (keep, dst_name)

    def copy_file(self, src_dir: int, name: str, st: os.stat_result, dst_dir: int,
                  dst_name: str) -> None:  # fmt: skip
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
        try:
            dst = os.open(dst_name, NEW_FILE_FLAGS, 0o600, dir_fd=dst_dir)
            try:
                _copy_bytes(src, dst)
                os.fchown(dst, *self.owner_of(st))  # before the mode: chown clears setuid
                os.fchmod(dst, self.mode_of(st))
                try:
                    os.setxattr(dst, CAPABILITY_XATTR, os.getxattr(src, CAPABILITY_XATTR))
                except OSError:
                    pass  # none to copy, or a file system without xattrs
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dst)
        finally:
            os.close(src)

    def copy_contents(self, src_fd: int, dst_fd: int) -> None:
        for name in sorted(os.listdir(src_fd), key=os.fsencode):
            st = os.lstat(name, dir_fd=src_fd)
            self.copy_entry(src_fd, name, st, dst_fd, name)


def _copy_bytes(src: int, dst: int) -> None:
    while True:
        try:
            sent = os.copy_file_range(src, dst, CHUNK)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            break
        if sent == 0:
            return
    while chunk := os.read(src, CHUNK):
        write_all(dst, chunk)


def normalize_dest(dest: str, workdir: str) -> str:
    """dockerd's normalizeDest: a relative destination is under WORKDIR; a trailing
    `/` is kept (it says "a directory")."""
    if dest.startswith("/"):
        return dest
    joined = posixpath.normpath(posixpath.join("/", workdir, dest))
    joined = "/" + joined.lstrip("/")
    if dest.endswith("/") and not joined.endswith("/"):
        joined += "/"
    return joined


def copy_into(
    rootfs: Path,
    source_root: Path,
    sources: Sequence[str],
    dest: str,
    *,
    workdir: str = "/",
    chown: tuple[int, int] | None = None,
    chmod: int | None = None,
    unpack_archives: bool = False,
    downloads: Sequence[Path] = (),
    command: str = "COPY",
    from_context: bool = True,
    preserve_owner: bool = False,
) -> None:
    """One COPY or ADD into the mounted root `rootfs`.

    `sources` are the instruction's source words (variables already replaced; wildcards
    are matched here) relative to `source_root`. `downloads` are ADD's fetched URLs
    (`fetch_url`), copied as files, never unpacked. `unpack_archives` is ADD's: a local
    tar is unpacked into `dest`. `command` and `from_context` choose Docker's wording
    of errors. `preserve_owner` (COPY --from without --chown, as dockerd's): each file
    keeps its owner. CopyError (an InvalidArgument) carries Docker's message.
    """
    matches = expand_sources(source_root, sources, command=command, from_context=from_context)
    total = len(matches) + len(downloads)
    if total == 0:
        raise CopyError(f"{command} failed: no source files were specified")
    if total > 1 and not dest.endswith("/"):
        raise CopyError(
            f"When using {command} with more than one source file, "
            "the destination must be a directory and end with a /"
        )
    dest = normalize_dest(dest, workdir)
    owner = chown or ROOT
    copier = _Copier(owner, chmod, preserve_owner=preserve_owner and chown is None)
    root_fd = os.open(rootfs, DIR_FLAGS)
    try:
        for rel in matches:
            parts = resolve_scoped(source_root, rel)
            src_parent = open_dir_in(source_root, parts[:-1])
            try:
                name = parts[-1] if parts else "."
                st = os.stat(name, dir_fd=src_parent, follow_symlinks=False)
                if unpack_archives and stat.S_ISREG(st.st_mode) and is_archive(src_parent, name):
                    _unpack_archive(rootfs, root_fd, dest, src_parent, name)
                    continue
                _copy_one(copier, rootfs, root_fd, dest, src_parent, name, st, rel)
            finally:
                os.close(src_parent)
        for download in downloads:
            parent = os.open(download.parent, DIR_FLAGS)
            try:
                st = os.lstat(download.name, dir_fd=parent)
                _copy_one(copier, rootfs, root_fd, dest, parent, download.name, st, download.name)
            finally:
                os.close(parent)
    finally:
        copier.close()
        os.close(root_fd)


def open_dir_in(root: Path, parts: Sequence[str]) -> int:
    root_fd = os.open(root, DIR_FLAGS)
    try:
        return open_dir(root_fd, parts, None)
    finally:
        os.close(root_fd)


def _copy_one(copier: _Copier, rootfs: Path, root_fd: int, dest: str, src_parent: int,
              name: str, st: os.stat_result, word: str) -> None:  # fmt: skip
    dest_parts = resolve_scoped(rootfs, dest)
    if stat.S_ISDIR(st.st_mode):
        # Made if missing (0755, owned as the copy is); left as it is if it exists.
        dst = open_dir(root_fd, dest_parts, copier.owner)
        src = os.open(name, DIR_FLAGS, dir_fd=src_parent)
        try:
            copier.copy_contents(src, dst)
        finally:
            os.close(src)
            os.close(dst)
        return
    target = rootfs.joinpath(*dest_parts)
    if dest.endswith("/") or not dest_parts or os.path.isdir(target):
        dest_parts = [*dest_parts, posixpath.basename(word.rstrip("/")) or name]
    parent = open_dir(root_fd, dest_parts[:-1], copier.owner)
    try:
        copier.copy_entry(src_parent, name, st, parent, dest_parts[-1])
    finally:
        os.close(parent)


# -- ADD of a local archive ----------------------------------------------------


def is_archive(dir_fd: int, name: str) -> bool:
    """Docker's IsArchivePath: the file, decompressed, starts with a valid tar header."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as raw:
        try:
            with tarfile.open(fileobj=decompressed(raw), mode="r|") as tar:  # type: ignore[call-overload]
                return tar.next() is not None
        except Exception:  # noqa: BLE001 - any failure to read a header: not an archive
            return False


def _unpack_archive(rootfs: Path, root_fd: int, dest: str, src_parent: int, name: str) -> None:
    dest_parts = resolve_scoped(rootfs, dest)
    dest_fd = open_dir(root_fd, dest_parts, ROOT)
    dest_path = rootfs.joinpath(*dest_parts)
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_parent)
    dir_times: list[tuple[list[str], int]] = []
    try:
        with os.fdopen(fd, "rb") as raw:
            try:
                with tarfile.open(fileobj=decompressed(raw), mode="r|") as tar:  # type: ignore[call-overload]
                    for member in tar:
                        _untar_one(tar, member, dest_path, dest_fd, dir_times)
            except (tarfile.TarError, EOFError) as exc:
                raise CopyError(f"failed to copy files: {name}: {exc}") from exc
        for parts, mtime in sorted(dir_times, key=lambda item: len(item[0]), reverse=True):
            try:
                dir_fd = open_dir(dest_fd, parts, None)
            except (OSError, KetchError):
                continue
            try:
                os.utime(dir_fd, ns=(mtime, mtime))
            finally:
                os.close(dir_fd)
    finally:
        os.close(dest_fd)


def _untar_one(tar: tarfile.TarFile, member: tarfile.TarInfo, dest_path: Path, dest_fd: int,
               dir_times: list[tuple[list[str], int]]) -> None:  # fmt: skip
    cleaned = go_clean(member.name).lstrip("/")  # `/x` is the destination's x, as Docker
    if cleaned == ".." or cleaned.startswith("../"):
        raise CopyError(f"failed to copy files: {member.name!r} is outside of the destination")
    if cleaned in ("", "."):
        return
    # The destination is the root here, as for dockerd's chrooted untar.
    parts = resolve_scoped(dest_path, posixpath.dirname(cleaned)) + [posixpath.basename(cleaned)]
    parent = open_dir(dest_fd, parts[:-1], ROOT)
    name = parts[-1]
    mtime = int(member.mtime * 1_000_000_000)
    try:
        existing = _lstat_at(parent, name)
        if member.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                _remove_at(parent, name, existing)
                existing = None
            if existing is None:
                os.mkdir(name, 0o700, dir_fd=parent)
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
            try:
                os.fchown(fd, member.uid, member.gid)
                os.fchmod(fd, member.mode & 0o7777)
            finally:
                os.close(fd)
            dir_times.append((parts, mtime))
            return
        _remove_at(parent, name, existing)
        if member.isreg():
            fd = os.open(name, NEW_FILE_FLAGS, 0o600, dir_fd=parent)
            try:
                data = tar.extractfile(member)
                if data is not None:
                    while chunk := data.read(CHUNK):
                        write_all(fd, chunk)
                os.fchown(fd, member.uid, member.gid)
                os.fchmod(fd, member.mode & 0o7777)
                os.utime(fd, ns=(mtime, mtime))
            finally:
                os.close(fd)
            return
        if member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
        elif member.islnk():
            target = resolve_scoped(dest_path, member.linkname)
            if not target:
                raise CopyError(f"failed to copy files: invalid hard link {member.name!r}")
            target_parent = open_dir(dest_fd, target[:-1], None)
            try:
                os.link(target[-1], name, src_dir_fd=target_parent, dst_dir_fd=parent,
                        follow_symlinks=False)  # fmt: skip
            finally:
                os.close(target_parent)
            return
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = (
                stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
            )
            os.mknod(
                name, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent
            )
            os.chmod(name, member.mode & 0o7777, dir_fd=parent, follow_symlinks=False)
        else:
            return
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        os.utime(name, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError as exc:
        raise CopyError(f"failed to copy files: {member.name}: {exc.strerror}") from exc
    finally:
        os.close(parent)


# -- --chown ---------------------------------------------------------------------


def _read_in_root(rootfs: Path, relative: str) -> str | None:
    parts = resolve_scoped(rootfs, relative)
    try:
        parent = open_dir_in(rootfs, parts[:-1])
    except (OSError, KetchError):
        return None
    try:
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        return None
    finally:
        os.close(parent)
    with os.fdopen(fd, "rb") as file:
        return file.read().decode("utf-8", errors="replace")


def resolve_chown(rootfs: Path, spec: str) -> tuple[int, int]:
    """--chown's `user`, `user:group`, `uid:gid` as (uid, gid), names looked up in the
    image's /etc/passwd and /etc/group. A lone user is also the group's name, as in
    dockerd (`--chown=app` is app:app, not app's primary group)."""
    parts = spec.split(":")
    if len(parts) > 2:
        raise CopyError(f"invalid chown string format: {spec}")
    user, group = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    prefix = "unable to convert uid/gid chown string to host mapping: "
    uid = _lookup_id(rootfs, user, "etc/passwd", "user", "uid")
    gid = _lookup_id(rootfs, group, "etc/group", "group", "gid")
    if isinstance(uid, str):
        raise CopyError(prefix + uid)
    if isinstance(gid, str):
        raise CopyError(prefix + gid)
    return uid, gid


def _lookup_id(rootfs: Path, name: str, file: str, what: str, kind: str) -> int | str:
    """The id, or the error's text."""
    if name.isdigit() or (name.startswith(("-", "+")) and name[1:].isdigit()):
        return int(name)
    text = _read_in_root(rootfs, file)
    if text is None:
        return f"can't find {kind} for {what} {name}: open /{file}: no such file or directory"
    if what == "user":
        ids = [uid for user, uid, _, _ in parse_passwd(text) if user == name]
    else:
        ids = [gid for group, gid, _ in parse_group(text) if group == name]
    if not ids:
        return f"can't find {kind} for {what} {name}: no such {what}: {name}"
    return ids[0]


# -- the build cache's key ---------------------------------------------------------


def sources_digest(source_root: Path, sources: Sequence[str], *, command: str = "COPY",
                   from_context: bool = True) -> str:  # fmt: skip
    """A digest of what `sources` would copy: every entry's path, type, mode, owner,
    size, link target and content — not its times (dockerd's tarsum leaves mtime out),
    so touching a file keeps the cache and editing it does not."""
    digest = hashlib.sha256()
    for rel in expand_sources(source_root, sources, command=command, from_context=from_context):
        parts = resolve_scoped(source_root, rel)
        digest.update(b"source\0" + rel.encode("utf-8", "surrogateescape") + b"\0")
        parent = open_dir_in(source_root, parts[:-1])
        try:
            name = parts[-1] if parts else "."
            _hash_entry(digest, parent, name, os.stat(name, dir_fd=parent,
                                                      follow_symlinks=False), "")  # fmt: skip
        finally:
            os.close(parent)
    return "sha256:" + digest.hexdigest()


def _hash_entry(digest: hashlib._Hash, dir_fd: int, name: str, st: os.stat_result,
                rel: str) -> None:  # fmt: skip
    kind = stat.S_IFMT(st.st_mode)
    header = f"{rel}\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0{st.st_uid}\0{st.st_gid}\0"
    digest.update(header.encode("utf-8", "surrogateescape"))
    if stat.S_ISLNK(st.st_mode):
        digest.update(os.readlink(name, dir_fd=dir_fd).encode("utf-8", "surrogateescape"))
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        digest.update(f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}".encode())
    elif stat.S_ISREG(st.st_mode):
        file_hash = hashlib.sha256()
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as file:
            while chunk := file.read(CHUNK):
                file_hash.update(chunk)
        digest.update(f"{st.st_size}\0".encode() + file_hash.digest())
    elif stat.S_ISDIR(st.st_mode):
        fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
        try:
            for child in sorted(os.listdir(fd), key=os.fsencode):
                child_st = os.lstat(child, dir_fd=fd)
                _hash_entry(digest, fd, child, child_st, f"{rel}/{child}" if rel else child)
        finally:
            os.close(fd)
    digest.update(b"\n")


# -- ADD <url> -------------------------------------------------------------------


def filename_for_download(url: str, content_disposition: str | None) -> str:
    """dockerd's getFilenameForDownload: the URL path's last part, else the
    Content-Disposition filename; '' when neither says."""
    path = urllib.parse.urlsplit(url).path
    if path and not path.endswith("/"):
        base = posixpath.basename(path)
        if base:
            return urllib.parse.unquote(base)
    if content_disposition:
        message = email.message.Message()
        message["content-disposition"] = content_disposition
        filename = message.get_param("filename", header="content-disposition")
        if isinstance(filename, str) and filename and not filename.endswith("/"):
            return posixpath.basename(filename)
    return ""


def fetch_url(url: str, dest_dir: Path, *, timeout: float = 60.0) -> Path:
    """Download ADD's URL into dest_dir: the file is 0600 (as dockerd writes it), its
    mtime the Last-Modified header's when there is one."""
    request = urllib.request.Request(url, headers={"User-Agent": "ketch"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            name = filename_for_download(url, response.headers.get("Content-Disposition"))
            if not name or name in (".", ".."):
                raise CopyError(f"cannot determine filename from url: {url}")
            path = dest_dir / name
            fd = os.open(path, NEW_FILE_FLAGS | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
            modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        raise CopyError(f"failed to GET {url} with status {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, KetchError):
            raise
        raise CopyError(f"failed to GET {url}: {exc}") from exc
    if modified:
        try:
            when = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            pass
        else:
            os.utime(path, (when, when))
    return path


def is_url(word: str) -> bool:
    """ADD fetches http:// and https:// sources (dockerd's urlutil.IsURL)."""
    return word.startswith(("http://", "https://"))
