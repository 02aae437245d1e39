"""Arrows point down only: no import cycle between oculo's subpackages, in-function imports included.

An import hidden inside a function still couples two packages; this test reads every import statement
with `ast`, wherever it sits, so a cycle cannot hide behind a late import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import oculo

ROOT = Path(oculo.__file__).parent


def _package_of(module: str) -> str | None:
    """The subpackage (or top-level module) of oculo that a dotted module name belongs to."""
    parts = module.split(".")
    return parts[1] if parts[0] == "oculo" and len(parts) > 1 else None


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every oculo module this file imports, at any depth of the syntax tree."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from . import x` / `from .. import engines` name subpackages in the alias list
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("oculo")}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    for path in ROOT.rglob("*.py"):
        here = _package_of(_module_name(path))
        if here not in packages:
            continue  # top-level modules (api, doctor, ...) are the front doors: they may import anything
        for module in _imports(path):
            there = _package_of(module)
            if there in packages and there != here:
                graph.setdefault(here, set()).add(there)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of packages (Tarjan), as a readable path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_cycle_between_subpackages() -> None:
    graph = package_graph()
    cycles = _cycles(graph)
    detail = "; ".join(" <-> ".join(g) + " (" + ", ".join(f"{a}->{b}" for a in g for b in sorted(graph[a])
                                                          if b in g) + ")" for g in cycles)
    assert not cycles, f"import cycles between oculo subpackages: {detail}"


def test_the_check_sees_in_function_imports(tmp_path: Path) -> None:
    """The reader finds an import nested in a function body, relative or absolute."""
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from ..models.catalog import find\n    import oculo.media\n")
    found = {m for m in ast.walk(ast.parse(src.read_text())) if isinstance(m, (ast.Import, ast.ImportFrom))}
    assert len(found) == 2
    graph = {"engines": {"models"}, "models": {"engines"}, "media": set()}
    assert _cycles(graph) == [["engines", "models"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_imports_resolve_relative_paths() -> None:
    imports = _imports(ROOT / "engines" / "base.py")
    assert "oculo.errors" in imports
