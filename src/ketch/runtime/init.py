"""The container's first process, and the setup an exec'd process shares with it.

Both run in a child forked by runtime/launch.py (for the shim or ketch-runtime),
already inside the container's PID namespace. They report to their parent on
`status_fd` (close-on-exec): one JSON line, `{"ready": true}` when set up, or
`{"error": ..., "exit_code": n}`; a successful execve closes the pipe, which is
how the parent learns the command started.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
from pathlib import Path
from typing import Any, NoReturn

from ketch.runtime import caps as capabilities
from ketch.runtime import console as consoles
from ketch.runtime import mounts, seccomp
from ketch.runtime import syscalls as sc
from ketch.runtime.cgroups import detect_layout
from ketch.runtime.users import ExecLookupError, lookup_executable, path_from_env, resolve_user

START_BYTE = b"s"
CGROUP_JOINED_BYTE = b"c"


def report(status_fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(status_fd, data) :]


def _fail(status_fd: int, message: str, exit_code: int = 126) -> NoReturn:
    try:
        report(status_fd, {"error": message, "exit_code": exit_code})
    finally:
        os._exit(exit_code)


def _close_on_exec_all_but_stdio() -> None:
    # Closing would leave the shim's Python objects pointing at reused fds;
    # close-on-exec drops them at execve instead.
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def _setup_stdio(stdio_fds: tuple[int, int, int]) -> None:
    for target, fd in enumerate(stdio_fds):
        if fd != target:
            os.dup2(fd, target, inheritable=True)
        else:
            os.set_inheritable(fd, True)


def _join_cgroup(cgroup_procs: list[str]) -> None:
    for path in cgroup_procs:
        with open(path, "w") as f:
            f.write("0")


def _enter_namespaces(namespaces: list[dict[str, Any]], defer: frozenset[str]) -> set[str]:
    """setns into namespaces given by path, unshare the others except the `defer`red types;
    returns the types of the new namespaces, deferred ones included."""
    new_flags = 0
    new_types: set[str] = set()
    for ns in namespaces:
        kind = ns.get("type", "")
        if kind in ("pid", "user"):
            continue  # pid is the shim's; user namespaces are not supported yet
        if ns.get("path"):
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, sc.NAMESPACE_FLAGS[kind])
            finally:
                os.close(fd)
        else:
            new_types.add(kind)
            if kind not in defer:
                new_flags |= sc.NAMESPACE_FLAGS[kind]
    if new_flags:
        sc.unshare(new_flags)
    return new_types


def _make_console(rootfs: str | None, console_socket: int) -> None:
    """A pty from the container's devpts: the slave becomes stdio and /dev/console, the master
    goes to the shim over `console_socket`."""
    devpts = os.path.join(rootfs, "dev/pts") if rootfs else "/dev/pts/nonexistent"
    master, slave, number = consoles.open_pty(devpts)
    if rootfs and number >= 0:
        target = mounts.secure_join(rootfs, "/dev/console")
        if not os.path.lexists(target):
            with open(target, "a"):
                pass
        sc.mount(os.path.join(devpts, str(number)), target, None, sc.MS_BIND)
    consoles.send_fd(console_socket, master)
    os.close(master)
    _setup_stdio((slave, slave, slave))
    os.close(slave)
    os.close(console_socket)


def _build_root(
    bundle: Path,
    spec: dict[str, Any],
    rootfs_mounts: list[dict[str, Any]],
    console_socket: int | None,
) -> list[dict[str, Any]]:
    """Everything up to pivot_root but the cgroup mounts, which need the cgroup namespace
    (made once the process is in its cgroup): those are returned for `_finish_root`."""
    linux = spec.get("linux") or {}
    propagation = mounts.parse_options([linux.get("rootfsPropagation") or "rprivate"])[1]
    sc.mount(None, "/", None, propagation or (sc.MS_PRIVATE | sc.MS_REC))
    root = spec.get("root") or {}
    rootfs = str(bundle / root.get("path", "rootfs"))
    mounts.mount_rootfs(rootfs, rootfs_mounts)
    dev_mounted = False
    deferred = []
    for entry in spec.get("mounts") or []:
        if entry.get("type") == "cgroup":
            deferred.append(entry)
            continue
        mounts.mount_entry(rootfs, entry)
        dev_mounted = dev_mounted or entry.get("destination") == "/dev"
    if dev_mounted:
        mounts.populate_dev(rootfs)
    mounts.make_devices(rootfs, list(linux.get("devices") or []))
    if console_socket is not None:
        _make_console(rootfs, console_socket)
    mounts.pivot_into(rootfs)
    _set_sysctls(dict(linux.get("sysctl") or {}))
    mounts.mask_paths(list(linux.get("maskedPaths") or []))
    mounts.readonly_paths(list(linux.get("readonlyPaths") or []))
    if root.get("readonly"):
        # Mounting on a read-only root still works: the cgroup mounts come after this.
        sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
    return deferred


def _set_sysctls(sysctls: dict[str, str]) -> None:
    """`--sysctl` values, written through the container's own /proc before it turns read-only."""
    for key, value in sysctls.items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(str(value))


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


def seccomp_program(spec: dict[str, Any]) -> bytes | None:
    """The BPF program of config.json's linux.seccomp, or None without one; remembered by
    content, which pays in a long-lived process (the fork server) whose children inherit it."""
    profile = (spec.get("linux") or {}).get("seccomp")
    return seccomp.compile_filter_cached(profile) if profile else None


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
        _fail(status_fd, error.message, error.exit_code)
    except Exception as error:  # everything else is a setup failure reported as Docker's 126
        _fail(status_fd, f"unable to start container process: {error}", 126)
    environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across execve.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    try:
        os.execve(path, args, environment)
    except OSError as error:
        code = 127 if error.errno == 2 else 126
        _fail(status_fd, f'exec: "{args[0]}": {os.strerror(error.errno or 0).lower()}', code)


def container_init(
    bundle: Path,
    rootfs_mounts: list[dict[str, Any]],
    stdio_fds: tuple[int, int, int],
    sync_fd: int,
    *,
    status_fd: int,
    console_socket: int | None = None,
    spec: dict[str, Any] | None = None,
    start_fifo: str | None = None,
    seccomp_filter: bytes | None = None,
) -> NoReturn:
    """PID 1 of the container: isolate, build the filesystem, report ready, wait for start, exec.

    The start byte comes on `sync_fd`, or with `start_fifo` (ketch-runtime
    create, whose process exits meanwhile) from whoever opens that FIFO.

    The parent moves the init into its cgroup (which takes a while on cgroup v1)
    while it builds its root, and sends CGROUP_JOINED_BYTE on `sync_fd` when
    done. With `console_socket`
    (process.terminal), stdio is a pty made inside the container whose master
    is sent over that socket; `stdio_fds` are then unused. `seccomp_filter` is the
    program of the spec's linux.seccomp if the caller built it already; else the init
    builds it.
    """
    fifo_path_fd = -1
    try:
        _close_on_exec_all_but_stdio()
        _setup_stdio(stdio_fds)
        if start_fifo is not None:
            # Reopened through /proc/self/fd after pivot_root, where its path is out of sight.
            fifo_path_fd = os.open(start_fifo, os.O_PATH | os.O_CLOEXEC)
        if spec is None:
            spec = json.loads((bundle / "config.json").read_text())
        if seccomp_filter is None:
            seccomp_filter = seccomp_program(spec)
        linux = spec.get("linux") or {}
        new = _enter_namespaces(list(linux.get("namespaces") or []), frozenset({"cgroup"}))
        cgroup_mounts: list[dict[str, Any]] = []
        # Read while /proc/self/mountinfo still shows the host's cgroup hierarchies.
        layout = detect_layout()
        if "mount" in new:
            cgroup_mounts = _build_root(bundle, spec, rootfs_mounts, console_socket)
        elif console_socket is not None:
            _make_console(None, console_socket)
        if "uts" in new and spec.get("hostname"):
            sc.sethostname(spec["hostname"])
        if "network" in new:
            sc.interface_up("lo")
        if os.read(sync_fd, 1) != CGROUP_JOINED_BYTE:
            os._exit(1)  # the shim went away
        if "cgroup" in new:
            # The namespace's root is the cgroup the process is in now: its own.
            sc.unshare(sc.CLONE_NEWCGROUP)
        for entry in cgroup_mounts:
            mounts.mount_entry("/", entry, layout)
    except Exception as error:
        _fail(status_fd, f"container init: {error}", 126)
    if start_fifo is not None:
        # Nobody will read status_fd after start: report a missing command now, as runc does.
        process = spec.get("process") or {}
        try:
            lookup_executable(
                (process.get("args") or [""])[0], path_from_env(process.get("env") or [])
            )
        except ExecLookupError as error:
            _fail(status_fd, error.message, error.exit_code)
    report(status_fd, {"ready": True})
    if start_fifo is not None:
        # Opening blocks until `ketch-runtime start` opens the other end.
        sync_fd = os.open(f"/proc/self/fd/{fifo_path_fd}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        go = os.read(sync_fd, 1)
    except OSError:
        go = b""
    if go != START_BYTE:
        os._exit(1)  # the shim went away or aborted the start
    os.close(sync_fd)
    become_process(spec.get("process") or {}, status_fd, seccomp_filter=seccomp_filter)


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
    seccomp_filter: bytes | None = None,
) -> NoReturn:
    """A process joining a running container (docker exec): cgroup, namespaces, then as the init.

    `namespace_fds` are (runtime-spec type, fd of /proc/<init>/ns/...) opened by the parent.
    """
    try:
        _close_on_exec_all_but_stdio()
        _setup_stdio(stdio_fds)
        _join_cgroup(cgroup_procs)
        # The mount namespace last: the others are found through the host's /proc.
        for kind, fd in sorted(namespace_fds, key=lambda item: item[0] == "mount"):
            sc.setns(fd, sc.NAMESPACE_FLAGS[kind])
        os.chdir("/")
        user = None
        if user_spec:
            resolved = resolve_user(user_spec, "/")
            user = (resolved.uid, resolved.gid, resolved.additional_gids)
    except ExecLookupError as error:
        _fail(status_fd, error.message, error.exit_code)
    except Exception as error:
        _fail(status_fd, f"exec setup: {error}", 126)
    become_process(process, status_fd, user, seccomp_filter)
