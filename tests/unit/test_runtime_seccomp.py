"""The seccomp compiler, checked by running its BPF on a small classic-BPF interpreter."""

from __future__ import annotations

import struct

import pytest

from ketch.runtime import seccomp
from ketch.runtime.syscall_numbers import X86_64


def run_bpf(
    program: bytes, nr: int, args: tuple[int, ...] = (), arch: int = seccomp.AUDIT_ARCH_X86_64
) -> int:
    """What the kernel would return for a syscall, per the classic BPF semantics seccomp uses."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    instructions = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = instructions[pc]
        pc += 1
        if code == 0x20:
            accumulator = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:
            accumulator &= k
        elif code == 0x06:
            return k
        elif code in (0x15, 0x25, 0x35):
            taken = {0x15: accumulator == k, 0x25: accumulator > k, 0x35: accumulator >= k}[code]
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


ALLOW, EPERM = seccomp.SECCOMP_RET_ALLOW, seccomp.SECCOMP_RET_ERRNO | 1


def compile_rules(rules: list[dict], default: str = "SCMP_ACT_ERRNO") -> bytes:
    return seccomp.compile_filter({"defaultAction": default, "syscalls": rules}, "x86_64")


def test_allow_list_and_default_errno() -> None:
    program = compile_rules(
        [{"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"}]
    )
    assert run_bpf(program, X86_64["read"]) == ALLOW
    assert run_bpf(program, X86_64["write"]) == ALLOW
    assert run_bpf(program, X86_64["mount"]) == EPERM


def test_newer_syscalls_get_enosys_and_other_abis_the_default() -> None:
    program = compile_rules([{"names": ["read"], "action": "SCMP_ACT_ALLOW"}], "SCMP_ACT_ALLOW")
    assert run_bpf(program, max(X86_64.values()) + 1) == seccomp.SECCOMP_RET_ERRNO | 38
    assert run_bpf(program, X86_64["read"] | seccomp.X32_SYSCALL_BIT) == ALLOW  # the default
    assert run_bpf(compile_rules([]), X86_64["read"], arch=0x40000003) == EPERM


def test_errno_ret_and_first_match_wins() -> None:
    program = compile_rules(
        [
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["clone3", "getpid"], "action": "SCMP_ACT_ALLOW"},
        ]
    )
    assert run_bpf(program, X86_64["clone3"]) == seccomp.SECCOMP_RET_ERRNO | 38
    assert run_bpf(program, X86_64["getpid"]) == ALLOW


@pytest.mark.parametrize(
    ("op", "value", "arg", "allowed"),
    [
        ("SCMP_CMP_EQ", 8, 8, True),
        ("SCMP_CMP_EQ", 8, 8 | 1 << 32, False),
        ("SCMP_CMP_EQ", 0xFFFFFFFF, 0xFFFFFFFF, True),
        ("SCMP_CMP_NE", 40, 40, False),
        ("SCMP_CMP_NE", 40, 41, True),
        ("SCMP_CMP_NE", 40, 40 | 1 << 40, True),
        ("SCMP_CMP_GT", 10, 11, True),
        ("SCMP_CMP_GT", 10, 10, False),
        ("SCMP_CMP_GT", 10, 1 << 33, True),
        ("SCMP_CMP_GE", 10, 10, True),
        ("SCMP_CMP_GE", 1 << 33, 10, False),
        ("SCMP_CMP_LT", 10, 9, True),
        ("SCMP_CMP_LT", 10, 10, False),
        ("SCMP_CMP_LT", 10, 1 << 33, False),
        ("SCMP_CMP_LE", 10, 10, True),
        ("SCMP_CMP_LE", 1 << 33, 5, True),
        ("SCMP_CMP_LE", 10, 11, False),
    ],
)
def test_argument_comparisons_on_64_bits(op: str, value: int, arg: int, allowed: bool) -> None:
    rule = {
        "names": ["personality"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": value, "op": op}],
    }
    program = compile_rules([rule, {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}])
    assert (run_bpf(program, X86_64["personality"], (arg,)) == ALLOW) is allowed
    # The block after an argument check still sees the syscall number.
    assert run_bpf(program, X86_64["getpid"], (arg,)) == ALLOW


def test_masked_eq_as_dockers_clone_rule() -> None:
    namespaces = 0x7E020000  # the CLONE_NEW* flags Docker's profile masks
    rule = {
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": namespaces, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
    }
    program = compile_rules([rule])
    assert run_bpf(program, X86_64["clone"], (0x01200011,)) == ALLOW  # a fork()'s flags
    assert run_bpf(program, X86_64["clone"], (0x01200011 | 0x20000000,)) == EPERM  # CLONE_NEWPID


def test_several_conditions_are_anded_and_rules_ored() -> None:
    rules = [
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"},
            ],
        },
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}],
        },
    ]
    program = compile_rules(rules)
    assert run_bpf(program, X86_64["socket"], (2, 1)) == ALLOW
    assert run_bpf(program, X86_64["socket"], (2, 2)) == EPERM
    assert run_bpf(program, X86_64["socket"], (1, 5)) == ALLOW


def test_unsupported_things_are_refused() -> None:
    with pytest.raises(seccomp.SeccompError):
        compile_rules([{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}])
    with pytest.raises(seccomp.SeccompError):
        compile_rules(
            [
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 6, "op": "SCMP_CMP_EQ"}],
                }
            ]
        )
    with pytest.raises(seccomp.SeccompError):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_ALLOW"}, "riscv64")


def test_docker_profile_filtered_by_caps_and_arches() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "syscalls": [
            {"names": sorted(X86_64), "action": "SCMP_ACT_ALLOW"},
            {
                "names": ["mount"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"caps": ["CAP_SYS_ADMIN"]},
            },
            {
                "names": ["clone3"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 38,
                "excludes": {"caps": ["CAP_SYS_ADMIN"]},
            },
            {
                "names": ["s390_pci_mmio_read"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"arches": ["s390x"]},
            },
            {
                "names": ["arch_prctl"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"arches": ["amd64", "x32"]},
            },
        ],
    }
    spec = seccomp.profile_to_spec(profile, ["CAP_CHOWN"], "x86_64")
    kept = [rule["names"][0] for rule in spec["syscalls"]]
    assert kept[1:] == ["clone3", "arch_prctl"]
    assert spec["defaultErrnoRet"] == 1 and spec["architectures"][0] == "SCMP_ARCH_X86_64"
    admin = [
        rule["names"][0]
        for rule in seccomp.profile_to_spec(profile, ["CAP_SYS_ADMIN"], "x86_64")["syscalls"]
    ]
    assert admin[1:] == ["mount", "arch_prctl"]
    # Every x86_64 syscall allowed one by one still fits in a BPF program.
    assert len(seccomp.compile_filter(spec, "x86_64")) // 8 < 4096
