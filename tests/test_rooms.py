"""Every room of the package and of the sandbox is small, and no import circle joins any of them.

Imports are read from the source, so a module that is never imported at run time is checked too.
``TYPE_CHECKING`` imports count (a type-only circle is still a concept pointing both ways), and so
do imports inside functions and relative imports. ``import a.b`` counts ``a.b``; ``from a import
b`` counts ``a`` and, when it is a module, ``a.b``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TREES = ("airflow_provider_cscs_dwdi", "sandbox")
MAX_LINES = 400


def _rooms(trees: Iterable[str] = TREES) -> list[str]:
    return sorted(
        str(path.relative_to(REPO_ROOT))
        for tree in trees
        for path in (REPO_ROOT / tree).rglob("*.py")
        if "node_modules" not in path.parts
    )


ROOMS = _rooms()


def _module(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _imports(path: str, source: str) -> set[str]:
    """The names ``source`` (the file at ``path``) imports, relative imports made absolute."""
    package = _module(path) if path.endswith("__init__.py") else _module(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(sources: Mapping[str, str]) -> dict[str, list[str]]:
    """Module -> the modules among ``sources`` (path -> text) it imports."""
    modules = {_module(path): path for path in sources}
    return {
        module: sorted(_imports(path, sources[path]) & set(modules) - {module})
        for module, path in modules.items()
    }


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def _sources() -> dict[str, str]:
    return {path: (REPO_ROOT / path).read_text(encoding="utf-8") for path in ROOMS}


def test_the_rooms_are_found() -> None:
    # Guards the tests below against passing on an empty or partial list.
    assert {
        "airflow_provider_cscs_dwdi/core/usage.py",
        "airflow_provider_cscs_dwdi/view/documents.py",
        "airflow_provider_cscs_dwdi/migration/__init__.py",
        "sandbox/dwdi/server.py",
        "sandbox/stack.py",
    } <= set(ROOMS)
    assert not [path for path in ROOMS if "node_modules" in path]


def test_no_import_circle_among_the_rooms() -> None:
    assert circles(import_graph(_sources())) == []


def test_the_circle_finder_sees_type_only_relative_and_long_circles() -> None:
    sources = {
        "p/__init__.py": "",
        "p/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.b import B\n",
        "p/b.py": "from . import c\n",
        "p/c.py": "def f():\n    import p.a\n",
        "p/d.py": "from p import a\n",
    }
    assert circles(import_graph(sources)) == [["p.a", "p.b", "p.c"]]
    assert circles(import_graph({**sources, "p/c.py": ""})) == []


@pytest.mark.parametrize("path", ROOMS)
def test_no_room_over_400_lines(path: str) -> None:
    lines = len((REPO_ROOT / path).read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path}: {lines} lines; split it into rooms with one reason to change each"


PACKAGE = "airflow_provider_cscs_dwdi"
_UNDER_DAGS = {
    "assets",
    "core",
    "dag_approval",
    "dag_docs",
    "dag_settings",
    "notifications",
    "operators",
    "run_months",
    "schedules",
}
#: docs/architecture.md, "What may import what": room -> the rooms of the package it may import.
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "hooks._http": {"core"},
    "hooks._extras": {"core"},
    "hooks.dwdi": {"core", "hooks._http", "hooks._extras"},
    "hooks.waldur": {"core", "hooks._http", "hooks._extras"},
    "hooks": set(),
    "operators": {"core", "hooks._http", "hooks._extras", "hooks.dwdi", "hooks.waldur", "assets"},
    "view": {"core"},
    "migration": {"core"},
    "get_provider_info": {"core"},
    "schedules": {"core"},
    "notifications": {"core"},
    "assets": {"core"},
    "dag_settings": {"core"},
    "dag_docs": {"core", "dag_settings"},
    "run_months": {"core", "operators"},
    "invoicing_example": {"core", "assets"},
    "dag_factory": _UNDER_DAGS,
    "dag_approval": {"core", "assets", "dag_settings", "notifications", "operators"},
    "dags": {"dag_factory"},
    "__main__": set(),
    "": set(),  # the package's __init__: the version, which every room may read
}


def room_of(module: str) -> str:
    """The room of a package module: its first folder (``core``), ``hooks.<name>``, or its own name."""
    parts = module.removeprefix(PACKAGE).removeprefix(".").split(".")
    if parts[0] == "hooks" and len(parts) > 1:
        return f"hooks.{parts[1]}"
    return parts[0]


def test_each_room_imports_only_the_rooms_the_architecture_page_allows() -> None:
    graph = import_graph(_sources())
    breaches = sorted(
        f"{module} -> {imported}"
        for module, imports in graph.items()
        if module.startswith(PACKAGE)
        for imported in imports
        if imported.startswith(PACKAGE)
        and room_of(imported) not in {room_of(module), ""}
        and room_of(imported) not in MAY_IMPORT.get(room_of(module), set())
    )
    assert breaches == []


def test_nothing_outside_the_test_suite_imports_it() -> None:
    """`make demo`, `make view`, the benchmarks and the scripts run from the sandbox and the package only."""
    paths = _rooms((*TREES, "benchmarks", "scripts", "dags"))
    assert len(paths) > len(ROOMS)
    importing = sorted(
        f"{path} -> {name}"
        for path in paths
        for name in _imports(path, (REPO_ROOT / path).read_text(encoding="utf-8"))
        if name == "tests" or name.startswith("tests.")
    )
    assert importing == []
