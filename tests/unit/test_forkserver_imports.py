"""The fork server imports only what shims need.

Every module in the fork server is heap every shim maps, and a module that
registers an at-fork hook (threading, random) runs Python code in each new
shim, whose pages then become private copies: measured, the imports below
cost each shim ~0.5 MiB. Checked in a fresh interpreter, as the daemon starts it.
"""

from __future__ import annotations

import json
import subprocess
import sys

# Each was pulled in once by a convenience (ctypes.util.find_library, platform,
# importlib.resources, dataclasses) and is not needed by the runtime or the shim.
NOT_IN_FORK_SERVER = {
    "asyncio",
    "aiohttp",
    "ast",
    "dataclasses",
    "inspect",
    "importlib.resources",
    "platform",
    "random",
    "shutil",
    "subprocess",
    "tempfile",
    "threading",
}


def test_fork_server_imports_nothing_shims_do_not_need() -> None:
    code = "import json, sys, ketch.shim.forkserver; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out))
    assert "ketch.shim.server" in loaded  # the shim itself is imported before any fork
    assert "ketch.runtime.init" in loaded
    assert not loaded & NOT_IN_FORK_SERVER, sorted(loaded & NOT_IN_FORK_SERVER)


# What the exec helper may import of ketch: runtime/process.py and what it needs, not
# runtime/init.py (the container init's mounts, seccomp compiler, cgroups, pathlib).
EXEC_HELPER_KETCH_MODULES = {
    "ketch",
    "ketch.runtime",
    "ketch.runtime.caps",
    "ketch.runtime.process",
    "ketch.runtime.syscalls",
    "ketch.runtime.users",
    "ketch.shim",
    "ketch.shim.exechelper",
}
# Standard modules that cost an exec's start-up milliseconds each (typing and json bring re
# and enum; signal.py enum; socket selectors) and that the exec path does without.
NOT_IN_EXEC_HELPER = {"enum", "json", "pathlib", "re", "signal", "socket", "typing"}


def exec_helper_modules() -> set[str]:
    """The modules loaded once the exec helper is imported, as ketch-monitor runs it: python
    -I -S (isolated, no site), ketch found through sys.path[0]."""
    from pathlib import Path

    import ketch

    package_parent = str(Path(ketch.__file__).parents[1])
    code = (
        f"import sys; sys.path.insert(0, {package_parent!r}); "
        "from ketch.shim.exechelper import main; print(*sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return set(out.split())


def test_exec_helper_imports_only_the_exec_path() -> None:
    """The exec helper starts with every `docker exec`: its imports are that exec's start-up
    time (~50 ms with runtime/init.py's, against ~10 ms for python itself)."""
    loaded = exec_helper_modules()
    assert {m for m in loaded if m.split(".")[0] == "ketch"} == EXEC_HELPER_KETCH_MODULES
    assert not loaded & NOT_IN_EXEC_HELPER, sorted(loaded & NOT_IN_EXEC_HELPER)
    assert not loaded & NOT_IN_FORK_SERVER, sorted(loaded & NOT_IN_FORK_SERVER)
