"""libseccomp (Debian's libseccomp2) through ctypes: the few calls a filter needs.

The library is loaded on first use, so importing this module costs nothing
where no filter is built; the fork server loads it up front (`library()`) so
every shim shares the mapping. Values below are those of libseccomp 2.5's
<seccomp.h> (enum scmp_filter_attr, enum scmp_compare, SCMP_ACT_*), which
are part of its stable ABI.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Iterable

SONAME = "libseccomp.so.2"

# enum scmp_filter_attr
ATTR_CTL_NNP = 3
ATTR_CTL_OPTIMIZE = 8

# enum scmp_compare
COMPARE_OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

NR_SCMP_ERROR = -1  # seccomp_syscall_resolve_name*: a name libseccomp does not know


class LibseccompError(OSError):
    pass


def release_free_heap() -> None:
    """Give the heap's free pages back to the kernel (glibc's malloc_trim; nothing elsewhere)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


class _ArgCmp(ctypes.Structure):
    # struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op; uint64 datum_a, datum_b; }
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


@functools.cache
def library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(SONAME, use_errno=True)
    except OSError:
        raise LibseccompError(
            f"seccomp needs {SONAME} (Debian package libseccomp2), which is not installed"
        ) from None
    ctx, u32, uint, int_, str_ = (
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_char_p,
    )
    signatures = {
        "seccomp_init": (ctx, [u32]),
        "seccomp_release": (None, [ctx]),
        "seccomp_arch_add": (int_, [ctx, u32]),
        "seccomp_arch_resolve_name": (u32, [str_]),
        "seccomp_arch_native": (u32, []),
        "seccomp_attr_set": (int_, [ctx, int_, u32]),
        "seccomp_syscall_resolve_name": (int_, [str_]),
        "seccomp_syscall_resolve_name_arch": (int_, [u32, str_]),
        "seccomp_rule_add_array": (int_, [ctx, u32, int_, uint, ctypes.POINTER(_ArgCmp)]),
        "seccomp_export_bpf": (int_, [ctx, int_]),
        "seccomp_version": (ctypes.POINTER(_Version), []),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def version() -> tuple[int, int, int]:
    found = library().seccomp_version().contents
    return found.major, found.minor, found.micro


def resolve_arch(name: str) -> int:
    """The arch token of a libseccomp name ("x86_64", "x32"...), 0 if unknown."""
    return int(library().seccomp_arch_resolve_name(name.encode()))


def native_arch() -> int:
    return int(library().seccomp_arch_native())


def resolve_syscall(name: str, arch: int | None = None) -> int:
    """The syscall number: for the native arch (negative: a pseudo number libseccomp maps
    on the arches that have it), or that of `arch`; NR_SCMP_ERROR if unknown."""
    if arch is None:
        return int(library().seccomp_syscall_resolve_name(name.encode()))
    return int(library().seccomp_syscall_resolve_name_arch(arch, name.encode()))


def _check(result: int, what: str) -> None:
    if result < 0:
        raise LibseccompError(-result, f"{what}: {os.strerror(-result)}")


class Filter:
    """A filter being built: a libseccomp context, released by close() or `with`."""

    def __init__(self, default_action: int) -> None:
        self._lib = library()
        self._ctx = self._lib.seccomp_init(default_action)
        if not self._ctx:
            raise LibseccompError(f"seccomp_init: invalid default action {default_action:#x}")

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ctx:
            self._lib.seccomp_release(self._ctx)
            self._ctx = None

    def add_arch(self, arch: int) -> None:
        result = self._lib.seccomp_arch_add(self._ctx, arch)
        if result != -17:  # EEXIST: the native arch is in every new filter
            _check(result, "seccomp_arch_add")

    def set_attribute(self, attribute: int, value: int) -> None:
        _check(self._lib.seccomp_attr_set(self._ctx, attribute, value), "seccomp_attr_set")

    def add_rule(
        self, action: int, syscall: int, conditions: Iterable[tuple[int, int, int, int]] = ()
    ) -> None:
        """conditions: (argument index, SCMP_CMP_* value, datum_a, datum_b), all to hold."""
        given = list(conditions)
        array = (_ArgCmp * len(given))(*(_ArgCmp(*condition) for condition in given))
        result = self._lib.seccomp_rule_add_array(self._ctx, action, syscall, len(given), array)
        _check(result, "seccomp_rule_add")

    def export_bpf(self) -> bytes:
        """The classic BPF program (host-endian sock_filter structs) libseccomp generates."""
        # A memfd, not a pipe: a large program would fill a pipe nobody reads yet.
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _check(self._lib.seccomp_export_bpf(self._ctx, fd), "seccomp_export_bpf")
            size = os.lseek(fd, 0, os.SEEK_CUR)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
