"""The container's first process: isolate, build its root, wait for the start, exec.

It runs in a child forked by runtime/launch.py (for the shim or ketch-runtime),
already inside the container's PID namespace. It reports to its parent on
`status_fd` (close-on-exec): one JSON line, `{"ready": true}` when set up, or
`{"error": ..., "exit_code": n}`; a successful execve closes the pipe, which is
how the parent learns the command started. From the start on it is the same as an
exec'd process: runtime/process.py, which (unlike this) every `docker exec` imports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

from ketch.runtime import console as consoles
from ketch.runtime import mounts, seccomp
from ketch.runtime import syscalls as sc
from ketch.runtime.cgroups import detect_layout
from ketch.runtime.process import (
    become_process,
    close_on_exec_all_but_stdio,
    fail,
    report,
    setup_stdio,
)
from ketch.runtime.users import ExecLookupError, lookup_executable, path_from_env

START_BYTE = b"s"
CGROUP_JOINED_BYTE = b"c"


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
    setup_stdio((slave, slave, slave))
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


def seccomp_program(spec: dict[str, Any]) -> bytes | None:
    """The BPF program of config.json's linux.seccomp, or None without one; remembered by
    content, which pays in a long-lived process (the fork server) whose children inherit it."""
    profile = (spec.get("linux") or {}).get("seccomp")
    return seccomp.compile_filter_cached(profile) if profile else None


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
        close_on_exec_all_but_stdio()
        setup_stdio(stdio_fds)
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
        fail(status_fd, f"container init: {error}", 126)
    if start_fifo is not None:
        # Nobody will read status_fd after start: report a missing command now, as runc does.
        process = spec.get("process") or {}
        try:
            lookup_executable(
                (process.get("args") or [""])[0], path_from_env(process.get("env") or [])
            )
        except ExecLookupError as error:
            fail(status_fd, error.message, error.exit_code)
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
