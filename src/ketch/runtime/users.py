"""User and executable lookup inside a container's root, worded as Docker words failures.

The parsers are pure; the lookups read files under a given root so they work
before and after pivot_root alike.
"""

from __future__ import annotations

import os
import stat


class ExecLookupError(Exception):
    """The container's command cannot be executed; `exit_code` is what the docker CLI exits with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ResolvedUser:
    """A plain class: a dataclass would bring dataclasses (inspect, ast, dis...: ~1.3 MiB of
    heap every shim maps) into the fork server, and a NamedTuple typing (with re: ~10 ms of
    start-up) into every exec's helper, which resolves `docker exec --user` with this."""

    __slots__ = ("uid", "gid", "additional_gids", "home")

    def __init__(
        self, uid: int, gid: int, additional_gids: list[int] | None = None, home: str = "/"
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.additional_gids = additional_gids if additional_gids is not None else []
        self.home = home

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResolvedUser):
            return NotImplemented
        return (self.uid, self.gid, self.additional_gids, self.home) == (
            other.uid, other.gid, other.additional_gids, other.home
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"ResolvedUser(uid={self.uid}, gid={self.gid}, "
            f"additional_gids={self.additional_gids}, home={self.home!r})"
        )


def parse_passwd(text: str) -> list[tuple[str, int, int, str]]:
    """(name, uid, gid, home) for each well-formed /etc/passwd line."""
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 7 or line.startswith("#"):
            continue
        try:
            entries.append((parts[0], int(parts[2]), int(parts[3]), parts[5]))
        except ValueError:
            continue
    return entries


def parse_group(text: str) -> list[tuple[str, int, list[str]]]:
    """(name, gid, members) for each well-formed /etc/group line."""
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 4 or line.startswith("#"):
            continue
        try:
            members = [m for m in parts[3].split(",") if m]
            entries.append((parts[0], int(parts[2]), members))
        except ValueError:
            continue
    return entries


def _read(root: str, path: str) -> str:
    try:
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def resolve_user(spec: str, root: str = "/") -> ResolvedUser:
    """Docker's `--user` forms (name, uid, name:group, uid:gid) from root's files."""
    return resolve_user_in(spec, _read(root, "/etc/passwd"), _read(root, "/etc/group"))


def resolve_user_in(spec: str, passwd_text: str, group_text: str) -> ResolvedUser:
    """`resolve_user` against the given /etc/passwd and /etc/group contents.

    A numeric uid missing from /etc/passwd is fine (gid 0 unless given); a
    missing name is an error, as in Docker.
    """
    user_part, _, group_part = (spec or "0").partition(":")
    passwd = parse_passwd(passwd_text)
    groups = parse_group(group_text)
    name = None
    uid, gid, home = 0, 0, "/"
    if user_part.isdigit():
        uid = int(user_part)
        for entry in passwd:
            if entry[1] == uid:
                name, _, gid, home = entry
                break
    else:
        for entry in passwd:
            if entry[0] == user_part:
                name, uid, gid, home = entry
                break
        else:
            raise ExecLookupError(
                f"unable to find user {user_part}: no matching entries in passwd file", 126
            )
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            for group_name, group_gid, _ in groups:
                if group_name == group_part:
                    gid = group_gid
                    break
            else:
                raise ExecLookupError(
                    f"unable to find group {group_part}: no matching entries in group file", 126
                )
    additional = sorted({g for _, g, members in groups if name is not None and name in members})
    return ResolvedUser(uid, gid, [g for g in additional if g != gid], home or "/")


def path_from_env(env: list[str]) -> str | None:
    for item in env:
        if item.startswith("PATH="):
            return item[5:]
    return None


def _is_executable_file(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def lookup_executable(name: str, path_env: str | None, root: str = "/") -> str:
    """Where `name` is, searched as Go's exec.LookPath does; errors in Docker's words.

    Returns the path inside the container (root-relative); `root` prefixes it
    for the checks only.
    """
    if not name:
        raise ExecLookupError('exec: "": executable file not found in $PATH', 127)
    host = os.path.join(root, name.lstrip("/")) if root != "/" else name
    if "/" in name:
        try:
            st = os.stat(host)
        except FileNotFoundError:
            raise ExecLookupError(
                f'exec: "{name}": stat {name}: no such file or directory', 127
            ) from None
        except PermissionError:
            raise ExecLookupError(f'exec: "{name}": permission denied', 126) from None
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise ExecLookupError(f'exec: "{name}": permission denied', 126)
        return name
    for directory in (path_env if path_env is not None else "").split(":"):
        candidate = os.path.join(directory or ".", name)
        on_host = os.path.join(root, candidate.lstrip("/")) if root != "/" else candidate
        if _is_executable_file(on_host):
            return candidate
    raise ExecLookupError(f'exec: "{name}": executable file not found in $PATH', 127)
