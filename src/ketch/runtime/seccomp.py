"""seccomp: Docker-format profiles to runtime-spec form, and runtime-spec form to a BPF filter.

The filter itself comes from libseccomp (its rules, architectures, 32-bit
and x32 ABIs, argument comparisons); ketch only exports libseccomp's BPF and
puts runc's -ENOSYS stub in front of it: a syscall newer than every syscall
the profile names gets ENOSYS instead of the default EPERM, so a libc falls
back to an older call (clone3 -> clone, fchmodat2 -> fchmodat) instead of
failing. The init loads the program with prctl just before execve.
"""

from __future__ import annotations

import functools
import json
import os
import struct
from typing import Any

from ketch.runtime import libseccomp

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
X32_SYSCALL_BIT = 0x40000000
EPERM = 1
ENOSYS = 38

# Docker's name for this machine's architecture (Go's GOARCH, as profiles' includes and
# excludes use it) and the runtime-spec one its archMap is keyed by.
_DOCKER_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "i686": "x86",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
_SPEC_ARCH = {
    "amd64": "SCMP_ARCH_X86_64",
    "arm64": "SCMP_ARCH_AARCH64",
    "x86": "SCMP_ARCH_X86",
    "arm": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
}

# Above this many syscalls libseccomp's binary tree makes each syscall's check shorter
# (runc's threshold; libseccomp 2.5.4 misbehaves with the tree and no rules at all).
_BINARY_TREE_ABOVE = 32

# Classic BPF opcodes of the -ENOSYS stub.
_LD_W_ABS = 0x20
_JA = 0x05
# A BPF instruction before assembly: (code, jt, jf, k), where a jump's target may be a
# label, resolved to an offset once every instruction has its place.
_Instruction = tuple[int, "int | str", "int | str", "int | str"]
_JGT_K = 0x25
_JEQ_K = 0x15
_JSET_K = 0x45
_RET_K = 0x06
_MAX_INSTRUCTIONS = 4096  # the kernel's BPF_MAXINSNS


class SeccompError(ValueError):
    pass


# runtime-spec's architecture names; which of them work depends on the libseccomp installed.
SPEC_ARCHITECTURES = tuple(
    "SCMP_ARCH_" + name
    for name in ("X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32",
                 "MIPSEL", "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390",
                 "S390X", "PARISC", "PARISC64", "RISCV64")
)  # fmt: skip


def supported_architectures() -> list[str]:
    """The runtime-spec architectures the installed libseccomp can filter; [] without it."""
    try:
        return [name for name in SPEC_ARCHITECTURES if _arch_known(name)]
    except libseccomp.LibseccompError:
        return []


def _arch_known(name: str) -> bool:
    return libseccomp.resolve_arch(name.removeprefix("SCMP_ARCH_").lower()) != 0


@functools.cache
def _default_profile_text() -> str:
    # A plain read of the package file: importlib.resources would bring tempfile, shutil and
    # random into the fork server, which imports this module.
    with open(os.path.join(os.path.dirname(__file__), "profiles", "default.json")) as f:
        return f.read()


def default_profile() -> dict[str, Any]:
    """Docker's default profile (dockerd's "builtin"), shipped with ketch; a fresh copy."""
    profile: dict[str, Any] = json.loads(_default_profile_text())
    return profile


def _kernel_version() -> tuple[int, ...]:
    release = os.uname().release.split("-")[0]
    return tuple(int(part) for part in release.split(".")[:2] if part.isdigit())


def _kernel_at_least(version: Any) -> bool:
    wanted = tuple(int(part) for part in str(version).split(".")[:2])
    return _kernel_version() >= wanted


def _applies(rule: dict[str, Any], caps: set[str], arch: str) -> bool:
    """Docker's includes/excludes: every included cap held, no excluded one, the arch, kernel."""
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if arch in (excludes.get("arches") or []):
        return False
    if set(excludes.get("caps") or []) & caps:
        return False
    if excludes.get("minKernel") and _kernel_at_least(excludes["minKernel"]):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if not set(includes.get("caps") or []) <= caps:
        return False
    if includes.get("minKernel") and not _kernel_at_least(includes["minKernel"]):
        return False
    return True


def _architectures(profile: dict[str, Any], arch: str) -> list[str]:
    if profile.get("architectures") and profile.get("archMap"):
        raise SeccompError(
            "'architectures' and 'archMap' were specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    if profile.get("architectures"):
        return list(profile["architectures"])
    native = _SPEC_ARCH.get(arch)
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            return [native, *(entry.get("subArchitectures") or [])]
    return []  # libseccomp then filters the native architecture only


def profile_to_spec(
    profile: dict[str, Any], capabilities: list[str], machine: str | None = None
) -> dict[str, Any] | None:
    """Docker's profile format (includes/excludes by caps, arches, kernel) as `linux.seccomp`;
    None for a profile with neither a default action nor syscalls, which Docker ignores."""
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    machine = machine or os.uname().machine
    arch = _DOCKER_ARCH.get(machine, machine)
    caps = set(capabilities)
    syscalls = []
    for rule in profile.get("syscalls") or []:
        if rule.get("name") and rule.get("names"):
            raise SeccompError(
                "'name' and 'names' were specified in the seccomp profile, "
                "use either 'name' or 'names'"
            )
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names or not _applies(rule, caps, arch):
            continue
        entry: dict[str, Any] = {"names": names, "action": rule["action"]}
        if rule.get("args"):
            entry["args"] = [dict(arg) for arg in rule["args"]]
        if rule.get("errnoRet") is not None:
            entry["errnoRet"] = rule["errnoRet"]
        syscalls.append(entry)
    spec: dict[str, Any] = {
        "defaultAction": profile.get("defaultAction") or "SCMP_ACT_ERRNO",
        "architectures": _architectures(profile, arch),
        "syscalls": syscalls,
    }
    if profile.get("defaultErrnoRet") is not None:
        spec["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return spec


def action_value(action: str, errno_ret: int | None) -> int:
    """A runtime-spec action as libseccomp's SCMP_ACT_* (the kernel's SECCOMP_RET_*) value."""
    if action == "SCMP_ACT_ALLOW":
        return SECCOMP_RET_ALLOW
    if action == "SCMP_ACT_ERRNO":
        return SECCOMP_RET_ERRNO | ((EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if action == "SCMP_ACT_TRACE":
        return SECCOMP_RET_TRACE | ((EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return SECCOMP_RET_KILL_THREAD
    if action == "SCMP_ACT_KILL_PROCESS":
        return SECCOMP_RET_KILL_PROCESS
    if action == "SCMP_ACT_TRAP":
        return SECCOMP_RET_TRAP
    if action == "SCMP_ACT_LOG":
        return SECCOMP_RET_LOG
    raise SeccompError(f"seccomp action {action} is not supported")


def _condition(arg: dict[str, Any]) -> tuple[int, int, int, int]:
    index = int(arg["index"])
    if not 0 <= index <= 5:
        raise SeccompError(f"seccomp argument index {index} out of range")
    op = libseccomp.COMPARE_OPERATORS.get(arg.get("op", ""))
    if op is None:
        raise SeccompError(f"seccomp operator {arg.get('op')} is not supported")
    mask = 0xFFFFFFFFFFFFFFFF
    return index, op, int(arg.get("value", 0)) & mask, int(arg.get("valueTwo", 0)) & mask


def _arch_token(name: str) -> int:
    token = libseccomp.resolve_arch(name.removeprefix("SCMP_ARCH_").lower())
    if not token or name not in SPEC_ARCHITECTURES:
        raise SeccompError(f"seccomp architecture {name} is not supported")
    return token


def _build(seccomp: dict[str, Any], default: int, arches: list[int]) -> bytes:
    with libseccomp.Filter(default) as bpf:
        for arch in arches:
            bpf.add_arch(arch)
        # no_new_privs is the runtime's business (process.noNewPrivileges), not the filter's.
        bpf.set_attribute(libseccomp.ATTR_CTL_NNP, 0)
        rules = list(seccomp.get("syscalls") or [])
        if sum(len(rule.get("names") or []) for rule in rules) > _BINARY_TREE_ABOVE:
            bpf.set_attribute(libseccomp.ATTR_CTL_OPTIMIZE, 2)
        for rule in rules:
            action = action_value(rule["action"], rule.get("errnoRet"))
            if action == default:
                continue  # libseccomp refuses a rule that only repeats the default
            conditions = [_condition(arg) for arg in rule.get("args") or []]
            indexes = [condition[0] for condition in conditions]
            # Two conditions on one argument become two rules (either may match), as runc
            # does: what Docker users' profiles were written against.
            groups = (
                [conditions] if len(set(indexes)) == len(indexes) else [[c] for c in conditions]
            )
            for name in rule.get("names") or []:
                number = libseccomp.resolve_syscall(name)
                if number == libseccomp.NR_SCMP_ERROR:
                    continue  # unknown to libseccomp: skipped, as runc does
                for group in groups:
                    try:
                        bpf.add_rule(action, number, group)
                    except libseccomp.LibseccompError as error:
                        raise SeccompError(f"seccomp rule for {name}: {error.strerror}") from None
        return bpf.export_bpf()


def _highest_syscalls(seccomp: dict[str, Any], arches: list[int]) -> dict[int, dict[int, int]]:
    """audit arch -> {libseccomp arch token: the highest syscall number the rules name}."""
    names = {name for rule in seccomp.get("syscalls") or [] for name in rule.get("names") or []}
    x32 = libseccomp.resolve_arch("x32")
    highest: dict[int, dict[int, int]] = {}
    for arch in arches:
        numbers = [libseccomp.resolve_syscall(name, arch) for name in names]
        top = max((number for number in numbers if number >= 0), default=-1)
        if top >= 0:
            # x32 shares x86_64's audit arch; its syscall numbers carry X32_SYSCALL_BIT.
            audit = AUDIT_ARCH_X86_64 if arch == x32 else arch
            highest.setdefault(audit, {})[arch] = top
    return highest


def _enosys_stub(highest: dict[int, dict[int, int]]) -> bytes:
    """BPF run before libseccomp's: ENOSYS for a syscall above the highest one named for its
    arch (and ABI, for x86_64 and x32), else on into the filter, which follows the stub."""
    x32 = libseccomp.resolve_arch("x32")
    dispatch: list[_Instruction] = [(_LD_W_ABS, 0, 0, 4)]  # seccomp_data.arch
    sections: list[_Instruction | str] = []
    for audit, tops in highest.items():
        label = f"arch-{audit:x}"
        dispatch.append((_JEQ_K, label, 0, audit))
        sections += [label, (_LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
        if audit == AUDIT_ARCH_X86_64:
            native, compat = tops.get(AUDIT_ARCH_X86_64), tops.get(x32)
            sections.append(
                (
                    _JSET_K,
                    "x32" if compat is not None else "filter",
                    0 if native is not None else "filter",
                    X32_SYSCALL_BIT,
                )
            )
            if native is not None:
                sections.append((_JGT_K, "enosys", "filter", native))
            if compat is not None:
                sections += ["x32", (_JGT_K, "enosys", "filter", compat)]
        else:
            sections.append((_JGT_K, "enosys", "filter", tops[audit]))
    dispatch.append((_JA, 0, 0, "filter"))
    items = [*dispatch, *sections, "enosys", (_RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS), "filter"]
    labels: dict[str, int] = {}
    program: list[_Instruction] = []
    for item in items:
        if isinstance(item, str):
            labels[item] = len(program)
        else:
            program.append(item)
    out = []
    for pc, (code, *operands) in enumerate(program):
        jt, jf, k = (labels[x] - pc - 1 if isinstance(x, str) else x for x in operands)
        out.append(struct.pack("=HBBI", code, jt, jf, k))
    return b"".join(out)


def compile_filter(seccomp: dict[str, Any]) -> bytes:
    """The BPF program (host-endian sock_filter structs) for runtime-spec `linux.seccomp`."""
    if seccomp.get("listenerPath"):
        raise SeccompError("seccomp notify (listenerPath) is not supported")
    default = action_value(
        seccomp.get("defaultAction") or "SCMP_ACT_ALLOW", seccomp.get("defaultErrnoRet")
    )
    try:
        arches = [_arch_token(name) for name in seccomp.get("architectures") or []]
        program = _build(seccomp, default, arches)
        stub = b""
        permissive = (SECCOMP_RET_ALLOW, SECCOMP_RET_LOG, SECCOMP_RET_ERRNO | ENOSYS)
        if default not in permissive and default & 0xFFFF0000 != SECCOMP_RET_TRACE:
            highest = _highest_syscalls(seccomp, arches or [libseccomp.native_arch()])
            stub = _enosys_stub(highest) if highest else b""
    except libseccomp.LibseccompError as error:
        raise SeccompError(str(error)) from None
    length = (len(stub) + len(program)) // 8
    if length > _MAX_INSTRUCTIONS:
        raise SeccompError(f"seccomp filter of {length} instructions is too long")
    return stub + program


@functools.lru_cache(maxsize=16)
def _compile_canonical(canonical: str) -> bytes:
    program = compile_filter(json.loads(canonical))
    # What building it allocated (the parsed profile, libseccomp's rule tree) is freed but
    # stays in glibc's heap, between live blocks: in the fork server, which compiles the
    # default profile at start and lives on, that was ~1 MiB every idle daemon kept.
    libseccomp.release_free_heap()
    return program


def compile_filter_cached(seccomp: dict[str, Any]) -> bytes:
    """compile_filter, remembered by the profile's content (a few recent ones)."""
    return _compile_canonical(json.dumps(seccomp, sort_keys=True))
