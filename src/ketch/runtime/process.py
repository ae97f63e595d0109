"""A container's process from a forked child to its execve: the part the init and an exec
share (`become_process`) and an exec's joining of a running container (`exec_process`).

Both report to their parent on `status_fd` (close-on-exec): `{"error": ..., "exit_code": n}`
as one JSON line, or nothing when a successful execve closes the pipe, which is how the
parent learns the command started (runtime/launch.py).

Every `docker exec` imports this afresh (ketch-monitor runs shim/exechelper.py), so its
imports are each exec's start-up time: no typing, enum (signal.py), json or re on the way to
the execve (json alone is ~7 ms of re and enum: `json_line` writes the reports);
tests/unit/test_forkserver_imports.py pins the set.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal.py wraps it in enums: ~4 ms an exec
import fcntl
import os
import resource

from ketch.runtime import caps as capabilities
from ketch.runtime import syscalls as sc
from ketch.runtime.users import ExecLookupError, lookup_executable, path_from_env, resolve_user

TYPE_CHECKING = False  # typing itself (with re) is ~10 ms of an exec's start-up
if TYPE_CHECKING:
    from typing import Any, NoReturn


def _json_string(text: str) -> str:
    """`text` as json.dumps writes it (ASCII only; a lone surrogate as its escape)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}")
        else:
            out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def json_line(message: dict[str, str | int | bool]) -> str:
    """A flat dict of str, int and bool as one line of json.dumps, newline included."""
    fields = []
    for key, value in message.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(int(value))
        else:
            text = _json_string(value)
        fields.append(f"{_json_string(key)}: {text}")
    return "{" + ", ".join(fields) + "}\n"


def report(status_fd: int, message: dict[str, str | int | bool]) -> None:
    data = json_line(message).encode()
    while data:
        data = data[os.write(status_fd, data) :]


def fail(status_fd: int, message: str, exit_code: int = 126) -> NoReturn:
    try:
        report(status_fd, {"error": message, "exit_code": exit_code})
    finally:
        os._exit(exit_code)


def close_on_exec_all_but_stdio() -> None:
    # Closing would leave the shim's Python objects pointing at reused fds;
    # close-on-exec drops them at execve instead.
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def setup_stdio(stdio_fds: tuple[int, int, int]) -> None:
    for target, fd in enumerate(stdio_fds):
        if fd != target:
            os.dup2(fd, target, inheritable=True)
        else:
            os.set_inheritable(fd, True)


def _join_cgroup(cgroup_procs: list[str]) -> None:
    for path in cgroup_procs:
        with open(path, "w") as f:
            f.write("0")


CGROUP_JOINED = b"c"


def await_cgroup_join(fd: int) -> None:
    """Wait for the parent that moves this process into its cgroup: CGROUP_JOINED, or the
    errno of the failed move and maybe the procs file it could not open, raised as the
    OSError _join_cgroup would have raised."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    os.close(fd)
    if data == CGROUP_JOINED:
        return
    number, _, path = data.decode(errors="surrogateescape").partition(" ")
    if not number.isdigit():
        raise OSError("the container's monitor did not move the process into its cgroup")
    if path:
        raise OSError(int(number), os.strerror(int(number)), path)
    raise OSError(int(number), os.strerror(int(number)))


def _set_rlimits(rlimits: list[dict[str, Any]]) -> None:
    for limit in rlimits:
        kind = getattr(resource, limit["type"])
        resource.setrlimit(kind, (int(limit["soft"]), int(limit["hard"])))


def _switch_user(uid: int, gid: int, additional_gids: list[int], process: dict[str, Any]) -> None:
    """setgroups/setgid/setuid, then the capability sets config.json names.

    Capabilities this process lacks itself (a runtime started with fewer,
    as in a nested container) are left out rather than failing, the way
    Docker gives --privileged "every capability the daemon has".
    """
    caps = process.get("capabilities") or {}
    last = capabilities.kernel_last_cap()
    held = sc.capget()[1]  # permitted: nothing outside it can be gained
    bounding = capabilities.mask(caps.get("bounding") or [], last)
    for number in range(last + 1):
        if not bounding >> number & 1:
            sc.prctl(sc.PR_CAPBSET_DROP, number)
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    os.setgroups(additional_gids)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    permitted = capabilities.mask(caps.get("permitted") or [], last) & held
    sc.capset(
        capabilities.mask(caps.get("effective") or [], last) & permitted,
        permitted,
        capabilities.mask(caps.get("inheritable") or [], last) & held & bounding,
    )
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    for name in caps.get("ambient") or []:
        ambient = capabilities.CAP_NUMBERS.get(capabilities.normalize(name))
        if ambient is not None and ambient <= last and permitted >> ambient & 1:
            sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, ambient)


def become_process(
    process: dict[str, Any],
    status_fd: int,
    user: tuple[int, int, list[int]] | None = None,
    seccomp_filter: bytes | None = None,
) -> NoReturn:
    """Session, terminal, limits, user, capabilities, cwd, then execve; failures go to status_fd.

    `user` overrides process.user with an already resolved (uid, gid, groups).
    The seccomp filter goes on last with no_new_privs; without it, it needs
    CAP_SYS_ADMIN, so it goes on before the capabilities are dropped (as runc).
    """
    no_new_privileges = bool(process.get("noNewPrivileges"))
    try:
        os.setsid()
        if process.get("terminal"):
            fcntl.ioctl(0, sc.TIOCSCTTY, 0)
        _set_rlimits(list(process.get("rlimits") or []))
        if process.get("oomScoreAdj") is not None:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(int(process["oomScoreAdj"])))
        umask = (process.get("user") or {}).get("umask")
        os.umask(0o022 if umask is None else int(umask))
        if user is None:
            spec_user = process.get("user") or {}
            user = (
                int(spec_user.get("uid", 0)),
                int(spec_user.get("gid", 0)),
                [int(g) for g in spec_user.get("additionalGids") or []],
            )
        if seccomp_filter is not None and not no_new_privileges:
            sc.seccomp_load(seccomp_filter)
        _switch_user(*user, process)
        if no_new_privileges:
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        cwd = process.get("cwd") or "/"
        os.makedirs(cwd, exist_ok=True)
        os.chdir(cwd)
        args = list(process.get("args") or [])
        env = list(process.get("env") or [])
        path = lookup_executable(args[0] if args else "", path_from_env(env))
        if seccomp_filter is not None and no_new_privileges:
            sc.seccomp_load(seccomp_filter)
    except ExecLookupError as error:
        fail(status_fd, error.message, error.exit_code)
    except Exception as error:  # everything else is a setup failure reported as Docker's 126
        fail(status_fd, f"unable to start container process: {error}", 126)
    environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across execve.
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    try:
        os.execve(path, args, environment)
    except OSError as error:
        code = 127 if error.errno == 2 else 126
        fail(status_fd, f'exec: "{args[0]}": {os.strerror(error.errno or 0).lower()}', code)


# Namespaces an exec'd process joins, in runtime-spec and /proc/<pid>/ns names; pid is
# joined by the parent (it applies to children) and user namespaces are not used.
JOINABLE_NAMESPACES = (
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("network", "net"),
    ("cgroup", "cgroup"),
    ("mount", "mnt"),
)


def open_namespaces(pid: int) -> list[tuple[str, int]]:
    """(type, fd) of each namespace of `pid` that differs from the caller's, for exec_process."""
    fds = []
    for kind, name in JOINABLE_NAMESPACES:
        theirs = f"/proc/{pid}/ns/{name}"
        if os.stat(theirs).st_ino != os.stat(f"/proc/self/ns/{name}").st_ino:
            fds.append((kind, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
    return fds


def exec_process(
    process: dict[str, Any],
    user_spec: str | None,
    stdio_fds: tuple[int, int, int],
    namespace_fds: list[tuple[str, int]],
    *,
    status_fd: int,
    cgroup_procs: list[str],
    cgroup_joined_fd: int | None = None,
    seccomp_filter: bytes | None = None,
) -> NoReturn:
    """A process joining a running container (docker exec): cgroup, namespaces, then as the init.

    `namespace_fds` are (runtime-spec type, fd of /proc/<init>/ns/...) opened by the parent.
    It joins the cgroup itself by `cgroup_procs`, or with `cgroup_joined_fd` waits there for
    the parent that moves it (in the meantime of its own start: on cgroup v1 a move waits
    for an RCU grace period, ~10 ms) to write CGROUP_JOINED, or `<errno>[ <procs file>]`.
    """
    try:
        close_on_exec_all_but_stdio()
        setup_stdio(stdio_fds)
        _join_cgroup(cgroup_procs)
        if cgroup_joined_fd is not None:
            await_cgroup_join(cgroup_joined_fd)
        # The mount namespace last: the others are found through the host's /proc.
        for kind, fd in sorted(namespace_fds, key=lambda item: item[0] == "mount"):
            sc.setns(fd, sc.NAMESPACE_FLAGS[kind])
        os.chdir("/")
        user = None
        if user_spec:
            resolved = resolve_user(user_spec, "/")
            user = (resolved.uid, resolved.gid, resolved.additional_gids)
    except ExecLookupError as error:
        fail(status_fd, error.message, error.exit_code)
    except Exception as error:
        fail(status_fd, f"exec setup: {error}", 126)
    become_process(process, status_fd, user, seccomp_filter)
