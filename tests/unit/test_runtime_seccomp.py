"""runtime-spec seccomp -> libseccomp -> BPF, checked two ways: the program run on a small
classic-BPF interpreter (every ABI, every corner), and loaded into a real process."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import struct

import pytest

from ketch.runtime import libseccomp, seccomp
from ketch.runtime.caps import DOCKER_DEFAULT_CAPS
from ketch.runtime.init import seccomp_program

AUDIT_ARCH_X86_64, AUDIT_ARCH_I386 = seccomp.AUDIT_ARCH_X86_64, seccomp.AUDIT_ARCH_I386
ALLOW, EPERM = seccomp.SECCOMP_RET_ALLOW, seccomp.SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
KILL = seccomp.SECCOMP_RET_KILL_THREAD
ALL_ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]

pytestmark = pytest.mark.skipif(
    os.uname().machine != "x86_64", reason="syscall numbers below are x86_64's"
)


def run_bpf(
    program: bytes, nr: int, args: tuple[int, ...] = (), arch: int = AUDIT_ARCH_X86_64
) -> int:
    """What the kernel would return for a syscall, per the classic BPF semantics seccomp uses."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    instructions = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = instructions[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            accumulator = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:  # and #k
            accumulator &= k
        elif code == 0x06:  # ret #k
            return k
        elif code == 0x05:  # ja k
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):
            taken = {
                0x15: accumulator == k,
                0x25: accumulator > k,
                0x35: accumulator >= k,
                0x45: bool(accumulator & k),
            }[code]
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def nr(name: str, arch: str = "x86_64") -> int:
    number = libseccomp.resolve_syscall(name, libseccomp.resolve_arch(arch))
    assert number >= 0, name
    return number


def compile_rules(
    rules: list[dict], default: str = "SCMP_ACT_ERRNO", arches: list[str] | None = None
) -> bytes:
    return seccomp.compile_filter(
        {"defaultAction": default, "architectures": arches or [], "syscalls": rules}
    )


def test_allow_list_default_errno_and_unknown_names_skipped() -> None:
    program = compile_rules(
        [{"names": ["read", "write", "no_such_call", "getpid"], "action": "SCMP_ACT_ALLOW"}]
    )
    assert run_bpf(program, nr("read")) == ALLOW
    assert run_bpf(program, nr("write")) == ALLOW
    assert run_bpf(program, nr("getpid")) == ALLOW
    assert run_bpf(program, nr("close")) == EPERM
    assert run_bpf(program, nr("open")) == EPERM


def test_newer_syscalls_get_enosys_per_arch_and_abi() -> None:
    rules = [{"names": ["read", "mkdirat", "mount"], "action": "SCMP_ACT_ALLOW"}]
    program = compile_rules(rules, arches=ALL_ARCHES)
    highest = nr("mkdirat")  # 258, the highest named on x86_64
    assert run_bpf(program, highest + 1) == ENOSYS
    assert run_bpf(program, nr("getrandom")) == ENOSYS  # 318: unnamed and newer
    assert run_bpf(program, nr("close")) == EPERM  # unnamed but older: the default
    # i386 numbers differ (mkdirat is 296, mount 21); each arch has its own bound.
    assert run_bpf(program, nr("mount", "x86"), arch=AUDIT_ARCH_I386) == ALLOW
    assert run_bpf(program, nr("close", "x86"), arch=AUDIT_ARCH_I386) == EPERM
    assert run_bpf(program, nr("mkdirat", "x86") + 1, arch=AUDIT_ARCH_I386) == ENOSYS
    # x32 shares x86_64's audit arch; its numbers carry bit 30.
    assert run_bpf(program, nr("read", "x32")) == ALLOW
    assert run_bpf(program, nr("close", "x32")) == EPERM
    assert run_bpf(program, nr("getrandom", "x32")) == ENOSYS
    # An arch the filter does not name gets libseccomp's bad-arch action, as under runc.
    assert run_bpf(program, 3, arch=0x40000028) == KILL  # AUDIT_ARCH_ARM


def test_no_enosys_stub_when_the_default_allows() -> None:
    program = compile_rules([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}], "SCMP_ACT_ALLOW")
    assert run_bpf(program, nr("getrandom")) == ALLOW
    assert run_bpf(program, nr("mkdir")) == EPERM
    # Nothing named, nothing newer: every syscall gets the default.
    assert run_bpf(compile_rules([]), nr("getrandom")) == EPERM
    # No architectures: the native one only; 32-bit syscalls are then a bad arch.
    assert run_bpf(program, nr("mkdir", "x86"), arch=AUDIT_ARCH_I386) == KILL


def test_errno_ret_and_rules_repeating_the_default_skipped() -> None:
    program = compile_rules(
        [
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},  # same as the default
        ],
        arches=ALL_ARCHES,
    )
    assert run_bpf(program, nr("clone3")) == ENOSYS
    assert run_bpf(program, nr("getpid")) == ALLOW
    assert run_bpf(program, nr("mount")) == EPERM


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
    assert (run_bpf(program, nr("personality"), (arg,)) == ALLOW) is allowed
    assert run_bpf(program, nr("getpid"), (arg,)) == ALLOW


def test_masked_eq_as_dockers_clone_rule() -> None:
    namespaces = 0x7E020000  # the CLONE_NEW* flags Docker's profile masks
    rule = {
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": namespaces, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
    }
    program = compile_rules([rule])
    assert run_bpf(program, nr("clone"), (0x01200011,)) == ALLOW  # a fork()'s flags
    assert run_bpf(program, nr("clone"), (0x01200011 | 0x20000000,)) == EPERM  # CLONE_NEWPID


def test_conditions_anded_rules_ored_and_one_argument_twice_ored_as_runc() -> None:
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
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
            ],
        },
    ]
    program = compile_rules(rules)
    assert run_bpf(program, nr("socket"), (2, 1)) == ALLOW
    assert run_bpf(program, nr("socket"), (2, 2)) == EPERM
    assert run_bpf(program, nr("socket"), (1, 5)) == ALLOW
    assert run_bpf(program, nr("personality"), (0,)) == ALLOW
    assert run_bpf(program, nr("personality"), (8,)) == ALLOW
    assert run_bpf(program, nr("personality"), (1,)) == EPERM


@pytest.mark.parametrize(
    "bad",
    [
        {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]},
        {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6}]}]},
        {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0}]}]},
        {"architectures": ["SCMP_ARCH_PDP11"]},
        {"listenerPath": "/run/agent.sock"},
    ],
)
def test_unsupported_things_are_refused(bad: dict) -> None:
    with pytest.raises(seccomp.SeccompError):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_ERRNO", **bad})


def test_docker_profile_filtered_by_caps_arches_and_kernel() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW",
             "includes": {"arches": ["s390x"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
             "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW",
             "includes": {"arches": ["x86"]}},  # Docker matches this machine's arch only
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
            {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}},
        ],
    }  # fmt: skip
    spec = seccomp.profile_to_spec(profile, ["CAP_CHOWN"], "x86_64")
    assert spec is not None
    kept = [rule["names"][0] for rule in spec["syscalls"]]
    assert kept == ["read", "clone3", "arch_prctl", "ptrace"]
    assert spec["defaultErrnoRet"] == 1
    assert spec["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    admin = seccomp.profile_to_spec(profile, ["CAP_SYS_ADMIN"], "x86_64")
    assert admin is not None
    assert [rule["names"][0] for rule in admin["syscalls"]] == [
        "read", "mount", "arch_prctl", "ptrace"]  # fmt: skip
    arm = seccomp.profile_to_spec(profile, [], "aarch64")
    assert arm is not None and arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    listed = seccomp.profile_to_spec({**profile, "archMap": None,
                                      "architectures": ["SCMP_ARCH_X86_64"]}, [])  # fmt: skip
    assert listed is not None and listed["architectures"] == ["SCMP_ARCH_X86_64"]
    with pytest.raises(seccomp.SeccompError, match="use either 'architectures' or 'archMap'"):
        seccomp.profile_to_spec({**profile, "architectures": ["SCMP_ARCH_X86_64"]}, [])
    with pytest.raises(seccomp.SeccompError, match="use either 'name' or 'names'"):
        seccomp.profile_to_spec(
            {"syscalls": [{"name": "read", "names": ["read"], "action": "SCMP_ACT_ALLOW"}]}, []
        )
    assert seccomp.profile_to_spec({"syscalls": []}, []) is None  # Docker: seccomp off


def default_program(caps: list[str]) -> tuple[dict, bytes]:
    spec = seccomp.profile_to_spec(seccomp.default_profile(), caps)
    assert spec is not None
    return spec, seccomp.compile_filter(spec)


def test_dockers_default_profile() -> None:
    spec, program = default_program(list(DOCKER_DEFAULT_CAPS))
    assert spec["architectures"] == ALL_ARCHES
    assert len(program) // 8 < 4096
    for name in ("read", "openat", "futex", "rt_sigreturn", "execve", "arch_prctl"):
        assert run_bpf(program, nr(name)) == ALLOW, name
    for name in ("mount", "unshare", "keyctl", "add_key", "setns", "reboot", "bpf", "acct"):
        assert run_bpf(program, nr(name)) == EPERM, name
    assert run_bpf(program, nr("clone"), (0x01200011,)) == ALLOW  # fork
    assert run_bpf(program, nr("clone"), (0x10000000,)) == EPERM  # CLONE_NEWUSER
    assert run_bpf(program, nr("clone3")) == ENOSYS  # so libcs fall back to clone
    assert run_bpf(program, nr("socket"), (40,)) == EPERM  # AF_VSOCK
    assert run_bpf(program, nr("socket"), (2,)) == ALLOW
    assert run_bpf(program, nr("personality"), (0xFFFFFFFF,)) == ALLOW
    assert run_bpf(program, nr("personality"), (1,)) == EPERM
    assert run_bpf(program, 462) == ENOSYS  # mseal: newer than every syscall the profile names
    assert run_bpf(program, nr("mount", "x86"), arch=AUDIT_ARCH_I386) == EPERM
    assert run_bpf(program, nr("read", "x86"), arch=AUDIT_ARCH_I386) == ALLOW
    assert run_bpf(program, nr("mount", "x32")) == EPERM
    _, admin = default_program([*DOCKER_DEFAULT_CAPS, "CAP_SYS_ADMIN"])
    assert run_bpf(admin, nr("mount")) == ALLOW
    assert run_bpf(admin, nr("clone3")) == ALLOW
    assert run_bpf(admin, nr("clone"), (0x10000000,)) == ALLOW


def test_program_remembered_by_content() -> None:
    spec, program = default_program(list(DOCKER_DEFAULT_CAPS))
    first = seccomp_program({"linux": {"seccomp": spec}})
    again = seccomp_program({"linux": {"seccomp": json.loads(json.dumps(spec))}})
    assert first == program and again is first
    assert seccomp_program({"linux": {}}) is None


def test_fork_server_warms_the_program_ketchd_gives_a_default_container() -> None:
    from ketch.containers.bundle import build_spec
    from ketch.shim.forkserver import warm_seccomp

    seccomp._compile_canonical.cache_clear()
    warm_seccomp()
    assert seccomp._compile_canonical.cache_info().misses == 1
    config = build_spec(path="true", args=[], config={}, host_config={}, uid=0, gid=0,
                        additional_gids=[], container_dir="/c", nofile_hard=4096,
                        seccomp_profile=seccomp.default_profile())  # fmt: skip
    assert seccomp_program(config) is not None
    info = seccomp._compile_canonical.cache_info()
    assert (info.hits, info.misses) == (1, 1)


def _syscall_results(program: bytes, calls: list[tuple[int, ...]]) -> list[int]:
    """Load `program` in a forked child (no_new_privs: no privilege needed), make each raw
    syscall there and return the errno each failed with (0 for success)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from ketch.runtime import syscalls as sc

            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
            sc.seccomp_load(program)
            results = []
            for call in calls:
                ctypes.set_errno(0)
                failed = libc.syscall(*(ctypes.c_long(arg) for arg in call)) == -1
                results.append(ctypes.get_errno() if failed else 0)
            os.write(write_end, json.dumps(results).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        data = b""
        while chunk := os.read(read_end, 4096):
            data += chunk
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(data)


def test_dockers_default_profile_in_the_kernel() -> None:
    _, program = default_program(list(DOCKER_DEFAULT_CAPS))
    clone_newuser = 0x10000000
    results = _syscall_results(
        program,
        [
            (nr("getpid"),),
            (nr("unshare"), clone_newuser),
            (nr("mount"), 0, 0, 0, 0, 0),
            (nr("keyctl"), 0),
            (nr("clone3"), 0, 0),
            (462, 0, 0, 0),  # mseal, unknown to libseccomp 2.5: ENOSYS, not EPERM
        ],
    )
    assert results == [0, errno.EPERM, errno.EPERM, errno.EPERM, errno.ENOSYS, errno.ENOSYS]
