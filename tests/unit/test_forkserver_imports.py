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


def test_exec_helper_imports_only_ketch_and_a_few_stdlib_modules() -> None:
    """The exec helper starts with every `docker exec` (python -I -S, as ketch-monitor runs
    it): its imports are that exec's start-up time."""
    from pathlib import Path

    import ketch

    package_parent = str(Path(ketch.__file__).parents[1])
    code = (
        f"import sys; sys.path.insert(0, {package_parent!r}); import json; "
        "from ketch.shim.exechelper import main; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    loaded = set(json.loads(out))
    assert "ketch.runtime.init" in loaded
    assert not loaded & (NOT_IN_FORK_SERVER | {"ketch.shim.server", "ketch.shim.forkserver"})
