"""The package's map of what may import what (README, "Architecture"), checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "copernica_source"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the package -> the package modules it imports (anywhere in its body, TYPE_CHECKING too)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = node.module if node.level == 0 else ".".join(p for p in (package, node.module) if p)
                submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                targets = submodules or [base]  # `from pkg import module` needs the module, not pkg's __init__
            found.update(t for t in targets if t in modules and t != name)
        graph[name] = found
    return graph


def _in(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_circle_in_the_package() -> None:
    graph = {m: {t for t in ts if not _in(t, "copernica_source.simulator")}  # TODO(sim circles)
             for m, ts in _imports().items() if not _in(m, "copernica_source.simulator")}
    assert len(graph) > 25  # the walk found the package
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_command_line_imports_the_command_line() -> None:
    offenders = {m: sorted(t for t in targets if _in(t, "copernica_source.cli"))
                 for m, targets in _imports().items() if not _in(m, "copernica_source.cli")}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_simulator_imports_nothing_of_the_library() -> None:
    offenders = {m: sorted(t for t in targets if not _in(t, "copernica_source.simulator"))
                 for m, targets in _imports().items() if _in(m, "copernica_source.simulator")}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_library_does_not_import_the_simulator() -> None:
    offenders = {m: sorted(t for t in targets if _in(t, "copernica_source.simulator"))
                 for m, targets in _imports().items()
                 if not (_in(m, "copernica_source.simulator") or _in(m, "copernica_source.cli"))}
    assert {m: t for m, t in offenders.items() if t} == {}
