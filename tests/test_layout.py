"""The package's map of what may import what (README, "Architecture"), checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "copernica_source"
# The packages that must have no import circle among their modules: the whole library, simulator included.
ACYCLIC = ("copernica_source", "copernica_source.simulator")


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """module -> the modules of the same top package it imports, read with `ast` (nothing is imported).

    Every import counts wherever it stands: top level, inside a function, under TYPE_CHECKING; each is
    a dependency the layering has to respect. An import names the most specific module it reaches
    (`from . import clock` is `pkg.clock`; `from .router import Request` is `pkg.router`). The parent
    packages a dotted import also runs are not edges: otherwise every module an `__init__` re-exports
    would be a circle with it."""
    root = package_dir.parent
    files = {}
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:  # `import a.b.c` of a name in a.b -> a.b
                    target = target.rpartition(".")[0]
                if target and target != module:
                    deps.add(target)
        graph[module] = deps
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_import_cycles_are_found(tmp_path: Path) -> None:
    """The check below can fail: a TYPE_CHECKING import back is a circle, a parent package is not."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "a.py").write_text("from . import b\nclass A: ...\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("import pkg.sub\nfrom .. import a\n\ndef f():\n    from ..sub import d\n")
    (pkg / "sub" / "d.py").write_text("from pkg.sub.c import f\n")
    graph = import_graph(pkg)
    assert graph["pkg.sub.c"] == {"pkg.sub", "pkg.a", "pkg.sub.d"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.sub.c", "pkg.sub.d"]]


@pytest.mark.parametrize("package", ACYCLIC)
def test_no_import_cycles(package: str) -> None:
    graph = import_graph(SOURCE)
    inside = {m: {d for d in deps if within(d, package)} for m, deps in graph.items() if within(m, package)}
    assert len(inside) > 1
    assert import_cycles(inside) == []


def _graph() -> dict[str, set[str]]:
    return import_graph(SOURCE)


def test_only_the_command_line_imports_the_command_line() -> None:
    offenders = {m: sorted(t for t in deps if within(t, "copernica_source.cli"))
                 for m, deps in _graph().items() if not within(m, "copernica_source.cli")}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_simulator_imports_nothing_of_the_library() -> None:
    offenders = {m: sorted(t for t in deps if not within(t, "copernica_source.simulator"))
                 for m, deps in _graph().items() if within(m, "copernica_source.simulator")}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_library_does_not_import_the_simulator() -> None:
    offenders = {m: sorted(t for t in deps if within(t, "copernica_source.simulator"))
                 for m, deps in _graph().items()
                 if not (within(m, "copernica_source.simulator") or within(m, "copernica_source.cli"))}
    assert {m: t for m, t in offenders.items() if t} == {}
