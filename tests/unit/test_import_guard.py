"""The import arrows of the architecture, checked so they stay true.

Four levels: foundations (errors, oci, units, atomicfile, timestamps, dockerignore, gostrings),
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

FOUNDATIONS = {
    "errors", "oci", "units", "atomicfile", "timestamps", "dockerignore", "gostrings", "__init__",
}
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


# -- circles ---------------------------------------------------------------------------------
# Every import counts, at the top, inside a function or under TYPE_CHECKING: a circle
# hidden in a function still ties two modules together, and a type-only one does for
# whoever reads or moves them.


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph(root: Path) -> dict[str, set[str]]:
    """Each module under `root` -> the modules under `root` it imports."""
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                module = ".".join(p for p in (base, node.module or "") if p)
                # `from pkg import sub` imports the submodule; `from mod import name`, mod.
                targets = [
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in paths else module
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in paths:  # `import a.b.c` -> the module a.b.c is in
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (a, b, ..., a) through each group of modules that import each other."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        # Depth-first from `start`; a module met again while on the path closes a circle.
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            nxt = pending.pop(0)
            if nxt in on_path:
                cycle = path[path.index(nxt) :] + [nxt]
                if not any(set(cycle) <= set(seen) for seen in cycles):
                    cycles.append(cycle)
            elif nxt not in done:
                stack.append((nxt, sorted(graph[nxt])))
                path.append(nxt)
                on_path.add(nxt)
    return cycles


def test_no_import_circles() -> None:
    cycles = import_cycles(module_graph(SRC))
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_circle_finder_sees_hidden_and_type_only_circles(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg.sub import b\n")
    (root / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (root / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
    )
    (root / "d.py").write_text("from pkg import a\n")  # into the circle, not part of it
    graph = module_graph(root)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.d"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]
    (root / "c.py").write_text("import pkg.sub\n")  # the package, not b: no circle
    assert import_cycles(module_graph(root)) == []
