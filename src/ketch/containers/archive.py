"""`docker cp`: tar out of and into a container's root, never leaving it.

Every path is resolved one component at a time relative to directory file
descriptors, with symlinks read and re-resolved inside the container's root
and `..` never climbing above it; files are opened with O_NOFOLLOW relative to
their directory. So a symlink in the container pointing at the host's /etc
leads to the container's /etc, never the host's.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from typing import IO, Any

from ketch.errors import InvalidArgument, NotFound
from ketch.timestamps import rfc3339_nano

MAX_SYMLINKS = 40

# Go's os.FileMode bits, which the docker CLI reads from the path-stat header.
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHARDEV = 1 << 21
GO_STICKY = 1 << 20


def _open_path(name: str, dir_fd: int) -> int:
    return os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def resolve(root_fd: int, path: str, follow_final: bool = False) -> int:
    """An O_PATH descriptor for `path` inside root; the caller closes it."""
    if "\x00" in path:  # no file has one in its name: the client's mistake, not ours
        raise InvalidArgument(f"invalid path {path.replace(chr(0), '%00')}: a NUL byte in it")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    stack = [os.dup(root_fd)]
    hops = 0
    try:
        while parts:
            part = parts.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                fd = _open_path(part, stack[-1])
            except FileNotFoundError:
                raise NotFound(f"Could not find the file {path} in container") from None
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:
                    raise InvalidArgument(f"invalid path {path}: file name too long") from None
                raise
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode) and (parts or follow_final):
                target = os.readlink(part, dir_fd=stack[-1])
                os.close(fd)
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise InvalidArgument(f"too many levels of symbolic links in {path}")
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            if parts and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise InvalidArgument(f"{path}: not a directory")
            stack.append(fd)
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def _reopen(fd: int, flags: int) -> int:
    # The magic link names exactly this file: no path is resolved again.
    return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)


def go_mode(mode: int) -> int:
    bits = stat.S_IMODE(mode) & 0o777
    kind = stat.S_IFMT(mode)
    bits |= {
        stat.S_IFDIR: GO_DIR,
        stat.S_IFLNK: GO_SYMLINK,
        stat.S_IFIFO: GO_PIPE,
        stat.S_IFSOCK: GO_SOCKET,
        stat.S_IFBLK: GO_DEVICE,
        stat.S_IFCHR: GO_DEVICE | GO_CHARDEV,
    }.get(kind, 0)
    if mode & stat.S_ISUID:
        bits |= GO_SETUID
    if mode & stat.S_ISGID:
        bits |= GO_SETGID
    if mode & stat.S_ISVTX:
        bits |= GO_STICKY
    return bits


def path_stat(root_fd: int, path: str) -> dict[str, Any]:
    """The X-Docker-Container-Path-Stat value, as a dict."""
    fd = resolve(root_fd, path)
    try:
        st = os.fstat(fd)
        link = ""
        if stat.S_ISLNK(st.st_mode):
            link = os.readlink("", dir_fd=fd)
    finally:
        os.close(fd)
    name = os.path.basename(path.rstrip("/")) or "/"
    mtime = rfc3339_nano(st.st_mtime_ns)
    return {"name": name, "size": st.st_size, "mode": go_mode(st.st_mode), "mtime": mtime,
            "linkTarget": link}  # fmt: skip


def encode_stat(value: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def _tarinfo(name: str, st: os.stat_result, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFDIR:
        info.type = tarfile.DIRTYPE
    elif kind == stat.S_IFLNK:
        info.type, info.linkname = tarfile.SYMTYPE, link
    elif kind == stat.S_IFREG:
        info.size = st.st_size
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif kind == stat.S_IFIFO:
        info.type = tarfile.FIFOTYPE
    else:
        raise ValueError("a socket cannot be archived")
    return info


def write_tar(root_fd: int, path: str, out: IO[bytes], one_file_system: bool = False) -> None:
    """Tar `path` (a file, a link, or a directory and all below it) named by its basename.

    With `one_file_system`, directories on another file system (a running container's
    /proc, /sys, /dev, its volumes) are listed but not entered: `docker export` is the
    container's own root file system, as dockerd tars its graph driver's mount."""
    fd = resolve(root_fd, path)
    base = os.path.basename(path.rstrip("/")) or "."
    if path.rstrip("/").endswith("/.") or path in ("/", "."):
        base = "."
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            st = os.fstat(fd)
            if not stat.S_ISDIR(st.st_mode):
                _add_entry(tar, fd, base, st)
                return
            directory = _reopen(fd, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if base != ".":
                    tar.addfile(_tarinfo(base, st))
                for rel, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=directory):
                    dirnames.sort()
                    for name in sorted(dirnames) + sorted(filenames):
                        arcname = os.path.normpath(os.path.join(base, rel, name))
                        with contextlib.suppress(FileNotFoundError, ValueError):
                            entry_st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                            if stat.S_ISDIR(entry_st.st_mode):
                                tar.addfile(_tarinfo(arcname, entry_st))
                                if one_file_system and entry_st.st_dev != st.st_dev:
                                    dirnames.remove(name)  # fwalk then skips it
                                continue
                            entry_fd = _open_path(name, dir_fd)
                            try:
                                _add_entry(tar, entry_fd, arcname, entry_st)
                            finally:
                                os.close(entry_fd)
            finally:
                os.close(directory)
    finally:
        os.close(fd)


def _add_entry(tar: tarfile.TarFile, fd: int, arcname: str, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        tar.addfile(_tarinfo(arcname, st, os.readlink("", dir_fd=fd)))
    elif stat.S_ISREG(st.st_mode):
        with os.fdopen(_reopen(fd, os.O_RDONLY | os.O_NONBLOCK), "rb") as source:
            tar.addfile(_tarinfo(arcname, st), source)
    else:
        tar.addfile(_tarinfo(arcname, st))


def _members(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, list[str]]]:
    for member in tar:
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise InvalidArgument(f"invalid archive entry {member.name!r}: '..' is refused")
        yield member, parts


def _walk_to_parent(dest_fd: int, parts: list[str], owner: tuple[int, int] | None) -> int:
    """The directory that will hold parts[-1], never through a symlink; missing ones are
    made (owned by `owner`) unless owner is None."""
    fd = os.dup(dest_fd)
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                  | os.O_CLOEXEC, dir_fd=fd)  # fmt: skip
            except FileNotFoundError:
                if owner is None:
                    raise NotFound(f"no such directory {part!r} in the container") from None
                os.mkdir(part, 0o755, dir_fd=fd)
                os.chown(part, *owner, dir_fd=fd, follow_symlinks=False)
                next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                  | os.O_CLOEXEC, dir_fd=fd)  # fmt: skip
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise InvalidArgument(
                        f"cannot extract through {part!r}: not a directory"
                    ) from None
                raise
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def extract_tar(root_fd: int, path: str, source: IO[bytes], copy_owner: bool) -> None:
    """Unpack a tar into the directory `path` of the container."""
    fd = resolve(root_fd, path, follow_final=True)
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InvalidArgument("extraction point is not a directory")
        dest = _reopen(fd, os.O_RDONLY | os.O_DIRECTORY)
    finally:
        os.close(fd)
    try:
        with tarfile.open(fileobj=source, mode="r|*") as tar:
            for member, parts in _members(tar):
                if not parts:
                    continue
                owner = (member.uid, member.gid) if copy_owner else (0, 0)
                try:
                    parent = _walk_to_parent(dest, parts, owner)
                    try:
                        _extract_one(tar, member, parts[-1], parent, dest, owner)
                    finally:
                        os.close(parent)
                except OSError as exc:
                    if exc.errno == errno.ENAMETOOLONG:
                        raise InvalidArgument(
                            f"invalid archive entry {member.name}: file name too long"
                        ) from None
                    raise
    except (tarfile.TarError, EOFError) as exc:  # the body is no tar, or a cut-off one
        raise InvalidArgument(f"Error processing tar file: {exc}") from None
    finally:
        os.close(dest)


def _extract_one(
    tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, parent: int, dest: int,
    owner: tuple[int, int],
) -> None:  # fmt: skip
    existing = None
    with contextlib.suppress(FileNotFoundError):
        existing = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if member.isdir():
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=parent)
        elif not stat.S_ISDIR(existing.st_mode):
            raise InvalidArgument(
                f"cannot overwrite non-directory {member.name!r} with a directory"
            )
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=parent)  # fmt: skip
        try:
            os.fchown(fd, *owner)
            os.fchmod(fd, member.mode & 0o7777)
        finally:
            os.close(fd)
        return
    if existing is not None:
        if stat.S_ISDIR(existing.st_mode):
            raise InvalidArgument(
                f"cannot overwrite directory {member.name!r} with a non-directory"
            )
        os.unlink(name, dir_fd=parent)
    if member.isreg():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent)  # fmt: skip
        with os.fdopen(fd, "wb") as out:
            data = tar.extractfile(member)
            assert data is not None
            while chunk := data.read(1024 * 1024):
                out.write(chunk)
            os.fchown(out.fileno(), *owner)
            os.fchmod(out.fileno(), member.mode & 0o7777)
    elif member.issym():
        os.symlink(member.linkname, name, dir_fd=parent)
        os.chown(name, *owner, dir_fd=parent, follow_symlinks=False)
    elif member.islnk():
        target_parts = [p for p in member.linkname.split("/") if p not in ("", ".")]
        if not target_parts or ".." in target_parts:
            raise InvalidArgument(f"invalid hard link target {member.linkname!r}")
        target_parent = _walk_to_parent(dest, target_parts, None)
        try:
            os.link(target_parts[-1], name, src_dir_fd=target_parent, dst_dir_fd=parent,
                    follow_symlinks=False)  # fmt: skip
        finally:
            os.close(target_parent)
        return
    elif member.isfifo():
        os.mkfifo(name, member.mode & 0o7777, dir_fd=parent)
        os.chown(name, *owner, dir_fd=parent, follow_symlinks=False)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(name, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor),
                 dir_fd=parent)  # fmt: skip
        os.chown(name, *owner, dir_fd=parent, follow_symlinks=False)
    else:
        return
    with contextlib.suppress(OSError):
        os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)
