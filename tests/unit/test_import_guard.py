"""The import arrows of the architecture, checked so they stay true.

Four levels: foundations (errors, oci, units, atomicfile, timestamps),
mechanisms, services, edges. A module imports from its own part, from
foundations and from lower levels; mechanisms never import each other, except
the shim, which is the runtime's monitor and runs the runtime's init in the
processes it forks. The CLI talks HTTP only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ketch"

FOUNDATIONS = {"errors", "oci", "units", "atomicfile", "timestamps", "__init__"}
MECHANISMS = {"content", "snapshots", "registry", "runtime", "shim", "network", "volumes"}
SERVICES = {"images", "containers", "build"}
EDGES = {"api", "client", "cli", "daemon", "config"}

# Exceptions to "mechanisms never import each other", each with its reason.
MECHANISM_EDGES = {("shim", "runtime")}

ALLOWED_FOR_EDGE = {
    "cli": FOUNDATIONS | {"client"},
    "client": FOUNDATIONS,
    "api": FOUNDATIONS | MECHANISMS | SERVICES | {"config"},
    "config": FOUNDATIONS,
    "daemon": FOUNDATIONS | MECHANISMS | SERVICES | EDGES - {"cli", "client"},
}


def part_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def ketch_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(SRC.parent).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level]
                module = ".".join(base + ((node.module,) if node.module else ()))
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                module = node.module or ""
                names = [module] if module != "ketch" else [f"ketch.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "ketch" and len(parts) > 1:
                found.add(parts[1])
    return found


def allowed_parts(part: str) -> set[str]:
    if part in FOUNDATIONS:
        return FOUNDATIONS
    if part in MECHANISMS:
        return FOUNDATIONS | {part} | {b for a, b in MECHANISM_EDGES if a == part}
    if part in SERVICES:
        return FOUNDATIONS | MECHANISMS | SERVICES
    if part in ALLOWED_FOR_EDGE:
        return ALLOWED_FOR_EDGE[part] | {part}
    if part == "testing":
        return FOUNDATIONS | MECHANISMS | SERVICES | EDGES | {"testing"}
    raise AssertionError(f"{part}: a part the architecture does not name")


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_arrows(path: Path) -> None:
    part = part_of(path)
    wrong = ketch_imports(path) - allowed_parts(part)
    assert not wrong, f"{path.relative_to(SRC)} ({part}) imports {sorted(wrong)}"


def test_guard_sees_a_wrong_arrow(tmp_path: Path) -> None:
    # The guard itself must be able to fail: a mechanism importing a service.
    fake = SRC / "content" / "_guard_probe.py"
    try:
        fake.write_text("from ketch.images import service\nfrom ..containers import x\n")
        assert ketch_imports(fake) == {"images", "containers"}
        assert ketch_imports(fake) - allowed_parts("content") == {"images", "containers"}
    finally:
        fake.unlink()
