"""`ketch ps` loads no more than it needs: each imported module is start-up time every
`ketch` invocation pays. Checked in a fresh interpreter, the whole command run against a
fake engine, so a new import anywhere on its path (a network option parser, ipaddress,
typing) shows up here."""

from __future__ import annotations

import subprocess
import sys

from ketch.testing.fakeengine import FakeEngine

# Exactly the ketch modules `ketch ps` needs.
PS_KETCH_MODULES = {
    "ketch",
    "ketch.cli",
    "ketch.cli.app",
    "ketch.cli.flags",
    "ketch.cli.listing",
    "ketch.cli.main",
    "ketch.cli.ps",
    "ketch.cli.tables",
    "ketch.cli.template",
    "ketch.cli.units",
    "ketch.client",
    "ketch.client.api",
    "ketch.client.errors",
    "ketch.client.http11",
    "ketch.client.jsontext",
    "ketch.client.transport",
    "ketch.errors",
    "ketch.gostrings",  # docker's %q (the COMMAND column), shared with the builder
    "ketch.units",
}
# Standard modules that cost milliseconds and that only other commands need.
# json and socket are among them: the client reads and writes JSON with _json's C scanner
# and encoder and talks over _socket's sockets, as json and socket would import re, enum
# and selectors (the default tables need no pattern either).
NOT_FOR_PS = {
    "argparse",
    "collections",
    "csv",
    "dataclasses",
    "datetime",
    "enum",
    "inspect",
    "ipaddress",
    "json",
    "re",
    "selectors",
    "socket",
    "typing",
    "urllib",
    "urllib.parse",
    "subprocess",
    "threading",
}
# What `ketch ps` loaded when this test was written (interpreter start-up and site included).
MODULE_BUDGET = 56

# The modules are printed without json: importing it here would hide the CLI's own imports.
CODE = """
import sys
from ketch.cli.main import run_cli
code = run_cli(["-H", sys.argv[1], "ps"])
print(code, " ".join(sorted(sys.modules)))
"""


def test_ps_imports_only_what_it_did() -> None:
    with FakeEngine() as engine:
        engine.answer("GET", "/containers/json", [])
        out = subprocess.run(
            [sys.executable, "-c", CODE, engine.host],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    code, modules = out.splitlines()[-1].split(" ", 1)
    assert code == "0"
    assert engine.sent("GET", "/containers/json")  # the command really ran
    loaded = set(modules.split())
    assert {m for m in loaded if m.startswith("ketch")} == PS_KETCH_MODULES
    assert not loaded & NOT_FOR_PS, sorted(loaded & NOT_FOR_PS)
    assert len(loaded) <= MODULE_BUDGET, len(loaded)
