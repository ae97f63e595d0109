"""A tiny static ELF executable that writes a message and exits 0, made in Python.

Two syscalls, no libc: enough for a hello-world image without a compiler.
"""

from __future__ import annotations

import platform
import struct

LOAD_ADDRESS = 0x400000
ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")
ET_EXEC = 2
PT_LOAD = 1
PF_R_X = 0x5
MACHINES = {"x86_64": 62, "aarch64": 183}
ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def x86_64_code(message_length: int) -> bytes:
    """write(1, msg, len); exit(0); the message follows the code."""
    code = b"".join(
        [
            b"\xb8\x01\x00\x00\x00",  # mov eax, 1 (write)
            b"\xbf\x01\x00\x00\x00",  # mov edi, 1 (stdout)
            b"\x48\x8d\x35" + struct.pack("<i", 16),  # lea rsi, [rip+16] -> msg
            b"\xba" + struct.pack("<I", message_length),  # mov edx, len
            b"\x0f\x05",  # syscall
            b"\xb8\x3c\x00\x00\x00",  # mov eax, 60 (exit)
            b"\x31\xff",  # xor edi, edi
            b"\x0f\x05",  # syscall
        ]
    )
    assert len(code) == 33  # the lea's displacement assumes this layout
    return code


def aarch64_code(message_length: int) -> bytes:
    if message_length >= 1 << 16:
        raise ValueError("message too long for one movz")
    words = [
        0xD2800020,  # movz x0, #1 (stdout)
        0x10000000 | (7 << 5) | 1,  # adr x1, .+28 -> msg (immhi=7, immlo=0)
        0xD2800002 | (message_length << 5),  # movz x2, #len
        0xD2800808,  # movz x8, #64 (write)
        0xD4000001,  # svc #0
        0xD2800000,  # movz x0, #0
        0xD2800BA8,  # movz x8, #93 (exit)
        0xD4000001,  # svc #0
    ]
    return struct.pack("<8I", *words)


def static_executable(message: bytes, machine: str | None = None) -> bytes:
    """An ELF64 executable for `machine` (default: this one) printing `message`."""
    machine = ALIASES.get(machine or platform.machine(), machine or platform.machine())
    if machine not in MACHINES:
        raise ValueError(f"no hello executable for {machine}")
    code = x86_64_code(len(message)) if machine == "x86_64" else aarch64_code(len(message))
    headers_size = ELF_HEADER.size + PROGRAM_HEADER.size
    total = headers_size + len(code) + len(message)
    elf_header = ELF_HEADER.pack(
        b"\x7fELF\x02\x01\x01" + bytes(9),  # 64-bit, little endian, version 1, SysV ABI
        ET_EXEC,
        MACHINES[machine],
        1,
        LOAD_ADDRESS + headers_size,  # entry: the code right after the headers
        ELF_HEADER.size,  # program headers follow the ELF header
        0,
        0,
        ELF_HEADER.size,
        PROGRAM_HEADER.size,
        1,
        64,
        0,
        0,
    )
    program_header = PROGRAM_HEADER.pack(
        PT_LOAD, PF_R_X, 0, LOAD_ADDRESS, LOAD_ADDRESS, total, total, 0x1000
    )
    return elf_header + program_header + code + message
