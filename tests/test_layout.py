"""The house's layout, read from the code's imports (docs/architecture.md, "Layout"):

- web/ has no import circle among its modules (function-level and TYPE_CHECKING imports
  count: a circle hidden in a function is still a circle);
- followup/ has no web code: none of its modules imports ``web``;
- the ``bevaka`` command's package ``cli/`` sits on top: no module outside it imports ``cli``.

Every import is read with ``ast`` (nothing is imported), so the test sees exactly what the
files say.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "cli",
    "config",
    "crawler",
    "followup",
    "matching",
    "notifications",
    "scheduler",
    "storage",
    "web",
)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of the packages that exist under ``root``, by dotted name."""
    modules: dict[str, Path] = {}
    for package in packages:
        folder = root / package
        if not (folder / "__init__.py").is_file():
            continue
        for path in sorted(folder.rglob("*.py")):
            modules[module_name(root, path)] = path
    return modules


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (top level, in functions,
    under ``if TYPE_CHECKING``); ``from package import module`` counts as importing the
    module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)
    found: set[str] = set()
    for target in targets:
        # "import a.b.c" also imports a and a.b; keep the project modules among them
        parts = target.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {t for t in found if t in known and t != name}


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    modules = project_modules(root, packages)
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (Tarjan's strongly connected components of more than
    one module, or a module importing itself), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    return {
        name: {t for t in targets if in_package(t, package)}
        for name, targets in graph.items()
        if in_package(name, package)
    }


def offenders(graph: dict[str, set[str]], *, importer: str | None, imported: str) -> list[str]:
    """ "module -> target" for each import of package ``imported`` from inside package
    ``importer`` (or, with ``importer=None``, from anywhere outside ``imported``)."""
    rows = []
    for name, targets in sorted(graph.items()):
        inside = in_package(name, imported)
        if (importer is None and inside) or (
            importer is not None and not in_package(name, importer)
        ):
            continue
        rows.extend(f"{name} -> {t}" for t in sorted(targets) if in_package(t, imported))
    return rows


# --- the project ----------------------------------------------------------------------------


def test_web_has_no_import_circle() -> None:
    graph = import_graph(ROOT)
    web = package_graph(graph, "web")
    assert "web.app" in web and "web.deps" in web  # the graph was read
    assert cycles(web) == []


def test_no_router_imports_the_app_module() -> None:
    graph = import_graph(ROOT)
    importers = sorted(name for name, targets in graph.items() if "web.app" in targets)
    assert importers == ["cli.web"]  # only the command that serves it


def test_followup_has_no_web_code() -> None:
    graph = import_graph(ROOT)
    assert any(in_package(name, "followup") for name in graph)
    assert offenders(graph, importer="followup", imported="web") == []


def test_no_module_outside_cli_imports_cli() -> None:
    assert offenders(import_graph(ROOT), importer=None, imported="cli") == []


# --- the checks themselves, on a made-up project -------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_circle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "web/__init__.py": "",
            "web/app.py": "def make():\n    from web import pages\n",
            "web/pages.py": "from web.app import make\n",
            "web/deps.py": "from . import security\n",
            "web/security.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .deps import x\n",
            "web/health.py": "import web.security\n",
        },
    )
    graph = import_graph(tmp_path, ["web"])
    assert graph["web.health"] == {"web", "web.security"}
    assert cycles(package_graph(graph, "web")) == [
        ["web.app", "web.pages"],
        ["web.deps", "web.security"],
    ]


def test_imports_of_web_from_followup_and_of_cli_from_below_are_found(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "cli/__init__.py": "from followup import report\n",
            "cli/main.py": "import cli\nfrom web.app import create\n",
            "followup/__init__.py": "",
            "followup/report.py": "def page():\n    from web.deps import render\n",
            "web/__init__.py": "",
            "web/app.py": "create = 1\n",
            "web/deps.py": "from cli.main import app\n",
        },
    )
    graph = import_graph(tmp_path)
    assert offenders(graph, importer="followup", imported="web") == [
        "followup.report -> web",
        "followup.report -> web.deps",
    ]
    assert offenders(graph, importer=None, imported="cli") == [
        "web.deps -> cli",
        "web.deps -> cli.main",
    ]
