"""The import graph of a package (default: monitor/), built with `ast`, and its import cycles.

Every `import` / `from ... import` counts, at module level and inside functions (a function-level import
is still an arrow), except those under `if TYPE_CHECKING:`. An import of `a.b.c` is an arrow to `a.b.c`
and, because Python runs their __init__ first, to the packages `a.b` and `a` as well, unless the importing
module lives inside that package (a package's own modules may import each other through it).
`from a.b import x` is an arrow to the module `a.b.x` when that module exists, else to `a.b`.

    python scripts/import_graph.py                 # cycles, exit status 1 when there is one
    python scripts/import_graph.py --edges         # every arrow inside the package, then the cycles
    python scripts/import_graph.py --imports monitor.store   # what the modules under monitor.store import
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path, base: Path) -> str:
    """Dotted module name of a .py file under base (the folder holding the top package)."""
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(package: str, base: Path = ROOT) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    folder = base / package.replace(".", "/")
    return {module_name(p, base): p for p in sorted(folder.rglob("*.py")) if "__pycache__" not in p.parts}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements anywhere in the tree (functions included), skipping `if TYPE_CHECKING:` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_names(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Dotted names a module imports (any package), resolved to modules where they are modules."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
            continue
        if node.level:
            anchor = name.split(".")
            anchor = anchor if is_package else anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            source = ".".join([*anchor, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            out.add(candidate if candidate in modules else source)
    return out


def ancestors(name: str) -> list[str]:
    """a.b.c -> [a, a.b]."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def build_graph(package: str = "monitor", base: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (see the module docstring for what counts)."""
    modules = discover(package, base)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target in imported_names(name, path, modules):
            for t in [*ancestors(target), target]:
                inside = name == t or name.startswith(t + ".")
                if t in modules and t != name and not (t != target and inside):
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) per strongly connected component that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                components.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, comp) for comp in components]


def _cycle_in(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A concrete cycle through the first module of a strongly connected component (breadth-first)."""
    members = set(component)
    start = component[0]
    paths: dict[str, list[str]] = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return [*component, component[0]]


def outside_imports(
    package: str, allowed: tuple[str, ...], base: Path = ROOT, top: str = "monitor"
) -> dict[str, list[str]]:
    """Module of `package` -> the project modules it imports that are neither in `package` nor `allowed`.

    Only project packages count (monitor, classifiers, rebuttals); the standard library and third-party
    packages are not checked.
    """
    project = ("monitor", "classifiers", "rebuttals")
    modules = discover(top, base)
    out: dict[str, list[str]] = {}
    for name, path in modules.items():
        if not (name == package or name.startswith(package + ".")):
            continue
        bad = sorted(
            t
            for t in imported_names(name, path, modules)
            if t.split(".")[0] in project
            and not any(t == a or t.startswith(a + ".") for a in (package, *allowed))
            and t != top
        )
        if bad:
            out[name] = bad
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--package", default="monitor", help="Top package to scan (default: monitor).")
    parser.add_argument("--edges", action="store_true", help="Print every arrow inside the package.")
    parser.add_argument(
        "--imports", metavar="PACKAGE", help="Print what the modules under PACKAGE import from the project."
    )
    args = parser.parse_args(argv)
    graph = build_graph(args.package)
    if args.edges:
        for src in sorted(graph):
            for dst in sorted(graph[src]):
                print(f"{src} -> {dst}")
    if args.imports:
        for name, targets in sorted(outside_imports(args.imports, (), top=args.package).items()):
            print(f"{name}: {', '.join(targets)}")
    found = cycles(graph)
    edges = sum(len(v) for v in graph.values())
    print(f"{len(graph)} modules, {edges} arrows, {len(found)} cycle(s)", file=sys.stderr)
    for cycle in found:
        print("cycle: " + " -> ".join(cycle))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
