"""The import graph of every package's ``src/``, read with ``ast`` (deferred and TYPE_CHECKING imports
included): no module imports itself back through others, and the layers point one way -- core imports no
plugin or CLI, the CLI imports core only, plugins import core only and never each other."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for p in ROOT.glob("**/src") if ".nox" not in p.parts and ".venv" not in p.parts)


def modules() -> dict[str, Path]:
    """Every module of the repository's packages, by dotted name (``pkg/__init__.py`` is ``pkg``)."""
    found = {}
    for src in SOURCES:
        for path in src.rglob("*.py"):
            parts = list(path.relative_to(src).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The repository modules that ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import mod" imports the module pkg.mod; "from mod import name" imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # "a.b.c" where only "a.b" is a module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    sys.setrecursionlimit(10_000)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_the_packages_and_deferred_imports():
    edges = graph()
    assert {"shrinkbench", "shrinkbench.engine.run", "shrinkbench_cli.main", "shrinkbench_vision.plugin"} <= set(edges)
    # a deferred import inside a function body counts
    assert "shrinkbench_cli.bench_runner" in edges["shrinkbench_cli.commands.bench"]


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_a_cycle_would_be_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def top(module: str) -> str:
    return module.split(".")[0]


def test_layers_point_one_way():
    problems = []
    for module, targets in graph().items():
        for target in targets:
            mine, theirs = top(module), top(target)
            if mine == theirs or theirs == "shrinkbench":
                continue  # within a package, or anything importing core
            problems.append(f"{module} imports {target}")
    assert problems == []
