"""The DAG-factory, migration and DWDI-sandbox rooms: small, and no import circle among them.

Imports are read from the source (``TYPE_CHECKING`` ones included: a type-only circle is still
a concept pointing both ways).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_cscs_dwdi"
ROOMS = [
    *(
        f"{PACKAGE}/{name}.py"
        for name in ("dag_factory", "dag_settings", "dag_docs", "run_months", "schedules")
    ),
    *(str(path.relative_to(REPO_ROOT)) for path in sorted((REPO_ROOT / PACKAGE / "migration").glob("*.py"))),
    *(str(path.relative_to(REPO_ROOT)) for path in sorted((REPO_ROOT / "sandbox" / "dwdi").glob("*.py"))),
    "sandbox/stack.py",
]
MAX_LINES = 400


def _module(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _imports(path: str) -> set[str]:
    """The modules ``path`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _circles() -> list[list[str]]:
    modules = {_module(path): path for path in ROOMS}
    graph = {module: sorted(_imports(path) & set(modules) - {module}) for module, path in modules.items()}
    circles: list[list[str]] = []

    def walk(module: str, trail: list[str]) -> None:
        for imported in graph[module]:
            if imported in trail:
                circles.append([*trail[trail.index(imported) :], imported])
            elif len(trail) < len(graph):
                walk(imported, [*trail, imported])

    for module in graph:
        walk(module, [module])
    return circles


def test_no_import_circle_among_these_rooms() -> None:
    assert _circles() == []


@pytest.mark.parametrize("path", ROOMS)
def test_no_room_over_400_lines(path: str) -> None:
    assert len((REPO_ROOT / path).read_text(encoding="utf-8").splitlines()) <= MAX_LINES
