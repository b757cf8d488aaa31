"""The shape of monitor/: no import cycles, store/ does not reach up, lazy imports say why, no hidden arrows."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "import_graph.py"
# What the store may import from the project: itself, the errors and the text helpers.
STORE_ALLOWED = ("monitor.errors", "classifiers.text")


def _import_graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_in_monitor() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 cycle(s)" in proc.stderr


def test_the_cycle_finder_finds_cycles_and_package_arrows(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.b import g\n")  # function-level: still an arrow
    (pkg / "b.py").write_text("from pkg import a\n")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.inner import x\n")
    (pkg / "sub" / "inner.py").write_text("from pkg.c import y\nx = 1\n")  # own package: no arrow to it
    (pkg / "c.py").write_text("from pkg.sub.leaf import z\n")  # runs pkg/sub/__init__.py first
    (pkg / "sub" / "leaf.py").write_text("z = 1\n")
    ig = _import_graph()
    graph = ig.build_graph("pkg", tmp_path)
    assert graph["pkg.c"] == {"pkg.sub", "pkg.sub.leaf"}
    assert "pkg.sub" not in graph["pkg.sub.inner"]
    found = {tuple(sorted(set(c))) for c in ig.cycles(graph)}
    assert found == {("pkg.a", "pkg.b"), ("pkg.c", "pkg.sub", "pkg.sub.inner")}


def test_store_imports_nothing_above_it() -> None:
    reaching_up = _import_graph().outside_imports("monitor.store", STORE_ALLOWED)
    assert reaching_up == {}, "\n".join(f"{m}: {', '.join(t)}" for m, t in sorted(reaching_up.items()))


def test_the_json_api_imports_no_html_route_module() -> None:
    """The JSON API and the HTML pages share a review service, not each other."""
    graph = _import_graph().build_graph("monitor", REPO)
    routes = sorted(t for t in graph["monitor.web.api"] if t.startswith("monitor.web.routes_"))
    assert not routes, f"monitor/web/api.py imports {routes}: move what it needs into the review service"


def test_the_default_time_zone_is_named_only_in_the_config() -> None:
    """Stages get the time zone from the config (config.TimeZone keys); only config.py names a default."""
    named = [
        f"{p.relative_to(REPO)}:{n}"
        for p in sorted((REPO / "monitor").rglob("*"))
        if p.suffix in {".py", ".html", ".txt", ".js", ".json", ".yaml", ".po"}
        and p != REPO / "monitor" / "config.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "Asia/Ho_Chi_Minh" in line
    ]
    assert not named, f"pass the time zone from the config instead of naming it: {named}"


def _function_level_monitor_imports() -> list[tuple[Path, int, str]]:
    out = []
    for path in sorted((REPO / "monitor").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines), str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                if any(n == "monitor" or n.startswith("monitor.") for n in names):
                    out.append((path.relative_to(REPO), node.lineno, lines[node.lineno - 1]))
    return out


def test_every_lazy_monitor_import_says_why() -> None:
    silent = [
        f"{p}:{n}: {line.strip()}"
        for p, n, line in _function_level_monitor_imports()
        if "# lazy:" not in line
    ]
    assert not silent, "function-level imports without a `# lazy: <reason>` comment:\n" + "\n".join(silent)


def test_no_string_registries_of_modules() -> None:
    hidden = [
        f"{p.relative_to(REPO)}"
        for p in sorted((REPO / "monitor").rglob("*.py"))
        if "importlib" in p.read_text(encoding="utf-8")
    ]
    assert not hidden, f"import by name hides arrows from the import graph: {hidden}"


FRESH_IMPORTS = """
import importlib, sys
sys.path.insert(0, "scripts")
import import_graph
failed = []
for name in sorted(import_graph.discover("monitor")):
    for loaded in [m for m in sys.modules if m == "monitor" or m.startswith("monitor.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {exc!r}")
print("\\n".join(failed))
"""


def test_every_module_imports_first() -> None:
    """Each module imports on its own, before any other (a half-initialised module would fail here)."""
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
