"""The documentation pages keep up with the code: broken links fail the build, the reference is complete.

``scripts/test.sh`` builds ``docs/`` itself (``scripts/build_docs.sh``); these tests prove that the
build's settings catch what they claim to, on a throw-away project that uses the real ``docs/conf.py``.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_cscs_dwdi import operators

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs"
#: The options of scripts/build_docs.sh that make a warning or an unresolved link fail the build.
BUILD_OPTIONS = ["-W", "--keep-going", "-n", "-E", "-q", "-b", "html"]
INDEX = "# Tiny\n\n```{toctree}\nother\n```\n"


def build(source: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """Build ``source`` with the project's conf.py and the options of scripts/build_docs.sh."""
    return subprocess.run(
        [sys.executable, "-m", "sphinx", *BUILD_OPTIONS, "-c", str(DOCS), str(source), str(output)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def tiny_project(root: Path, other_page: str) -> Path:
    source = root / "source"
    source.mkdir()
    (source / "index.md").write_text(INDEX)
    (source / "other.md").write_text(other_page)
    return source


def test_a_tiny_project_with_valid_links_builds(tmp_path: Path) -> None:
    # A private module is shown as text, not a link: the pages document the public API only.
    valid = "[home](index.md), [here](#a-section), {py:mod}`._clock`."
    source = tiny_project(tmp_path, f"# Other\n\n## A section\n\n{valid}\n")

    result = build(source, tmp_path / "html")

    assert result.returncode == 0, result.stderr


def test_broken_internal_links_an_unknown_class_and_an_orphan_page_fail_the_build(tmp_path: Path) -> None:
    # One build: --keep-going reports every warning, so each is asserted on its own.
    broken = (
        "[gone](missing.md), [gone](index.md#no-such-heading), [gone](#no-such-section), "
        "{py:class}`core.xcom.NoSuchDocument`"
    )
    source = tiny_project(tmp_path, f"# Other\n\n## A section\n\n{broken}\n")
    (source / "orphan.md").write_text("# Orphan\n")

    result = build(source, tmp_path / "html")

    assert result.returncode != 0
    assert "cross-reference target not found: 'missing.md'" in result.stderr
    assert "local id not found in doc 'index': 'no-such-heading'" in result.stderr
    assert "cross-reference target not found: 'no-such-section'" in result.stderr
    assert "orphan.md: WARNING: document isn't included in any toctree" in result.stderr
    assert "py:class reference target not found: core.xcom.NoSuchDocument" in result.stderr


def documented_classes(page: str) -> list[str]:
    return re.findall(r"^\.\. autoclass:: (\S+)$", (DOCS / page).read_text(), flags=re.MULTILINE)


def test_the_reference_documents_every_operator() -> None:
    documented = {name.rsplit(".", 1)[1] for name in documented_classes("dags-and-operators.md")}

    assert set(operators.__all__) <= documented


@pytest.mark.parametrize("operator_name", operators.__all__)
def test_every_operator_parameter_is_in_its_docstring(operator_name: str) -> None:
    # The reference page shows the class docstring (autodoc): a parameter missing from it is
    # missing from the documentation.
    operator = getattr(operators, operator_name)
    parameters = [
        name
        for name, parameter in inspect.signature(operator.__init__).parameters.items()
        if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    docstring = inspect.getdoc(operator) or ""

    undocumented = [name for name in parameters if f":param {name}:" not in docstring]

    assert not undocumented, f"{operator_name}: parameters without ':param name:' in the docstring"


def test_readme_is_a_short_entry_page_whose_links_exist() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    relative = [target for target in targets if "://" not in target]

    assert len(readme.splitlines()) < 250
    assert "docs/index.md" in relative
    assert [target for target in relative if not (REPO_ROOT / target).exists()] == []


#: An entry of the architecture page's tree: a file or folder name at an indentation of 2 per level
#: (description lines start much further right).
TREE_ENTRY = re.compile(r"^(?P<indent>(?:  ){0,6})(?P<name>[\w.-]+(?:\.py|/))(?:\s|$)")


def tree_paths(page: str, root: str) -> set[str]:
    """The paths (``core/usage.py``, ``core/``) the first tree on ``page`` lists below ``root``."""
    block = page.split("```", 2)[1]
    paths: set[str] = set()
    trail: list[str] = []
    inside = False
    for line in block.splitlines():
        match = TREE_ENTRY.match(line)
        if not match:
            continue
        depth = len(match["indent"]) // 2
        if depth == 0:
            inside = match["name"] == f"{root}/"
            trail = []
            continue
        if inside:
            trail = [*trail[: depth - 1], match["name"]]
            paths.add("".join(trail))
    return paths


def test_the_architecture_page_lists_every_module_of_the_package_and_nothing_else() -> None:
    package = REPO_ROOT / "airflow_provider_cscs_dwdi"
    listed = tree_paths((DOCS / "architecture.md").read_text(encoding="utf-8"), package.name)
    modules = {str(path.relative_to(package)) for path in package.rglob("*.py")}

    assert sorted(modules - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(path for path in listed if not (package / path).exists()) == [], "listed, but gone"


def test_the_tree_reader_follows_the_indentation() -> None:
    page = "```\npkg/\n  a.py        text\n  sub/        text\n    b.py      text and c.py\n  d.py\nother/\n  e.py\n```"
    assert tree_paths(page, "pkg") == {"a.py", "sub/", "sub/b.py", "d.py"}


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_requirements_table_lists_every_dependency_with_its_minimum() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    rows = dict(
        re.findall(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|", (DOCS / "installation.md").read_text(), re.M)
    )
    for line in declared:
        requirement = Requirement(line)
        name = requirement.name + (f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else "")
        (minimum,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert name in rows, f"docs/installation.md's requirements table lacks {name}"
        assert Version(rows[name].split()[0]) == Version(minimum), (name, rows[name])
    assert len(rows) == len(declared), sorted(rows)


def test_the_pages_say_how_many_files_init_writes_and_name_them() -> None:
    from airflow_provider_cscs_dwdi.__main__ import SHIPPED_FILES

    count = {2: "two", 3: "three", 4: "four"}[len(SHIPPED_FILES)]
    for page, claim in (
        ("installation.md", f"This writes {count} files"),
        ("bare-metal.md", f"writes {count} files"),
    ):
        text = _words((DOCS / page).read_text())
        assert claim in text, page
        assert all(f"`{name}`" in text for name in SHIPPED_FILES), page
