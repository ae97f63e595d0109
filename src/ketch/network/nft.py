"""libnftables through ctypes: nft's own command language without an `nft` process per call.

A rule costs ~0.08 ms this way against ~2 ms for running the nft binary. One
context is kept and used under a lock: libnftables is not thread-safe per
context, and the daemon calls in from worker threads.
"""

from __future__ import annotations

import ctypes
import json
import threading
from typing import Any

from ketch.errors import Internal

_NFT_CTX_DEFAULT = 0
_NFT_CTX_OUTPUT_HANDLE = 1 << 3
_NFT_CTX_OUTPUT_JSON = 1 << 4


class NftError(Internal):
    pass


class Nft:
    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        except OSError as e:
            raise NftError(f"libnftables is not installed (Debian: libnftables1): {e}") from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        ctx = lib.nft_ctx_new(_NFT_CTX_DEFAULT)
        if not ctx:
            raise NftError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        self._lib = lib
        self._ctx: int | None = ctx
        self._lock = threading.Lock()
        self._flags = -1

    def run(self, commands: str) -> str:
        """Run nft commands (one transaction: all or none apply); their output."""
        return self._run(commands, 0)

    def list_json(self, command: str) -> list[dict[str, Any]]:
        """`list ...` as nft's JSON objects, with rule handles."""
        out = self._run(command, _NFT_CTX_OUTPUT_JSON | _NFT_CTX_OUTPUT_HANDLE)
        data = json.loads(out) if out.strip() else {}
        items = data.get("nftables", []) if isinstance(data, dict) else []
        return [item for item in items if isinstance(item, dict)]

    def _run(self, commands: str, flags: int) -> str:
        with self._lock:
            if self._ctx is None:
                raise NftError("nftables context is closed")
            if flags != self._flags:
                self._lib.nft_ctx_output_set_flags(self._ctx, flags)
                self._flags = flags
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, commands.encode())
            out = self._lib.nft_ctx_get_output_buffer(self._ctx) or b""
            err = self._lib.nft_ctx_get_error_buffer(self._ctx) or b""
        if rc != 0:
            raise NftError(f"nft: {err.decode(errors='replace').strip() or 'failed'}")
        return str(out.decode(errors="replace"))

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                self._lib.nft_ctx_free(self._ctx)
                self._ctx = None
