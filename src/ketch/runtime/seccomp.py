"""seccomp: Docker-format profiles to runtime-spec form, and runtime-spec form to a BPF filter.

The filter is a flat list of checks, one small block per rule, first match
wins; x86_64 only for now (other architectures and 32-bit compat syscalls
get the default action). Syscalls newer than the table get ENOSYS, as runc
does, so libcs fall back to older calls instead of failing with EPERM.
"""

from __future__ import annotations

import platform
import struct
from typing import Any

from ketch.runtime.syscall_numbers import X86_64

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
EPERM = 1
ENOSYS = 38

# Classic BPF opcodes used here.
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGT_K = 0x25
_JGE_K = 0x35
_AND_K = 0x54
_RET_K = 0x06

_FAIL = -1  # placeholder: jump past the end of the current block
_MAX_INSTRUCTIONS = 4096

# Docker's architecture names for this machine, and the runtime-spec ones.
_DOCKER_ARCHES = {"x86_64": ("amd64", "x32", "x86"), "aarch64": ("arm64", "arm")}
_SPEC_ARCHES = {"x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}

Instruction = tuple[int, int, int, int]  # code, jt, jf, k


class SeccompError(ValueError):
    pass


def _kernel_version() -> tuple[int, ...]:
    release = platform.release().split("-")[0]
    return tuple(int(part) for part in release.split(".")[:2] if part.isdigit())


def _applies(rule: dict[str, Any], caps: set[str], arches: tuple[str, ...]) -> bool:
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if includes.get("caps") and not set(includes["caps"]) <= caps:
        return False
    if includes.get("arches") and not set(includes["arches"]) & set(arches):
        return False
    if includes.get("minKernel"):
        wanted = tuple(int(p) for p in str(includes["minKernel"]).split(".")[:2])
        if _kernel_version() < wanted:
            return False
    if excludes.get("caps") and set(excludes["caps"]) & caps:
        return False
    if excludes.get("arches") and set(excludes["arches"]) & set(arches):
        return False
    return True


def profile_to_spec(
    profile: dict[str, Any], capabilities: list[str], machine: str | None = None
) -> dict[str, Any]:
    """Docker's profile format (includes/excludes by caps and arches) as `linux.seccomp`."""
    machine = machine or platform.machine()
    arches = _DOCKER_ARCHES.get(machine, ())
    caps = set(capabilities)
    syscalls = []
    for rule in profile.get("syscalls") or []:
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names or not _applies(rule, caps, arches):
            continue
        entry: dict[str, Any] = {"names": names, "action": rule["action"]}
        if rule.get("args"):
            entry["args"] = rule["args"]
        if rule.get("errnoRet") is not None:
            entry["errnoRet"] = rule["errnoRet"]
        syscalls.append(entry)
    spec: dict[str, Any] = {
        "defaultAction": profile.get("defaultAction", "SCMP_ACT_ERRNO"),
        "architectures": _SPEC_ARCHES.get(machine, []),
        "syscalls": syscalls,
    }
    if profile.get("defaultErrnoRet") is not None:
        spec["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return spec


def action_value(action: str, errno_ret: int | None) -> int:
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


def _condition(arg: dict[str, Any]) -> list[Instruction]:
    """Instructions that fall through when the argument matches and jump to _FAIL when not."""
    index = int(arg["index"])
    if not 0 <= index <= 5:
        raise SeccompError(f"seccomp argument index {index} out of range")
    low_offset, high_offset = 16 + 8 * index, 20 + 8 * index
    value = int(arg.get("value", 0)) & 0xFFFFFFFFFFFFFFFF
    high, low = value >> 32, value & 0xFFFFFFFF
    op = arg.get("op")
    load_high, load_low = (_LD_W_ABS, 0, 0, high_offset), (_LD_W_ABS, 0, 0, low_offset)
    if op == "SCMP_CMP_EQ":
        return [load_high, (_JEQ_K, 0, _FAIL, high), load_low, (_JEQ_K, 0, _FAIL, low)]
    if op == "SCMP_CMP_NE":
        return [load_high, (_JEQ_K, 0, 2, high), load_low, (_JEQ_K, _FAIL, 0, low)]
    if op == "SCMP_CMP_MASKED_EQ":
        expected = int(arg.get("valueTwo", 0)) & 0xFFFFFFFFFFFFFFFF
        return [
            load_high,
            (_AND_K, 0, 0, high),
            (_JEQ_K, 0, _FAIL, expected >> 32),
            load_low,
            (_AND_K, 0, 0, low),
            (_JEQ_K, 0, _FAIL, expected & 0xFFFFFFFF),
        ]
    if op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        last = _JGT_K if op == "SCMP_CMP_GT" else _JGE_K
        return [
            load_high,
            (_JGT_K, 3, 0, high),
            (_JEQ_K, 0, _FAIL, high),
            load_low,
            (last, 0, _FAIL, low),
        ]
    if op in ("SCMP_CMP_LT", "SCMP_CMP_LE"):
        last = _JGE_K if op == "SCMP_CMP_LT" else _JGT_K
        return [
            load_high,
            (_JGE_K, 0, 3, high),
            (_JEQ_K, 0, _FAIL, high),
            load_low,
            (last, _FAIL, 0, low),
        ]
    raise SeccompError(f"seccomp operator {op} is not supported")


def _block(number: int, args: list[dict[str, Any]], ret: int) -> list[Instruction]:
    """Return `ret` if the syscall is `number` and every argument condition holds."""
    body: list[Instruction] = [(_JEQ_K, 0, _FAIL, number)]
    for arg in args:
        body += _condition(arg)
    body.append((_RET_K, 0, 0, ret))
    if args:
        # The conditions loaded arguments into A: the next block needs the number again.
        body.append((_LD_W_ABS, 0, 0, 0))
    resolved = []
    end = len(body) - (1 if args else 0)  # a failed check lands on the reload, if any
    for position, (code, jt, jf, k) in enumerate(body):
        jt = end - position - 1 if jt == _FAIL else jt
        jf = end - position - 1 if jf == _FAIL else jf
        if jt > 255 or jf > 255:
            raise SeccompError("seccomp rule too long for a BPF jump")
        resolved.append((code, jt, jf, k))
    return resolved


def compile_filter(seccomp: dict[str, Any], machine: str | None = None) -> bytes:
    """The BPF program (packed sock_filter structs) for runtime-spec `linux.seccomp`."""
    machine = machine or platform.machine()
    if machine != "x86_64":
        raise SeccompError(f"seccomp filters are not supported on {machine} yet")
    table = X86_64
    default = action_value(
        seccomp.get("defaultAction", "SCMP_ACT_ALLOW"), seccomp.get("defaultErrnoRet")
    )
    program: list[Instruction] = [
        (_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, default),
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (_JGE_K, 0, 1, X32_SYSCALL_BIT),
        (_RET_K, 0, 0, default),
        (_JGT_K, 0, 1, max(table.values())),
        (_RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS),
    ]
    for rule in seccomp.get("syscalls") or []:
        ret = action_value(rule["action"], rule.get("errnoRet"))
        for name in rule.get("names") or []:
            number = table.get(name)
            if number is None:
                continue  # unknown on this architecture, as libseccomp skips it
            program += _block(number, list(rule.get("args") or []), ret)
    program.append((_RET_K, 0, 0, default))
    if len(program) > _MAX_INSTRUCTIONS:
        raise SeccompError(f"seccomp filter of {len(program)} instructions is too long")
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)
