"""Sphinx configuration of the provider's documentation: Markdown pages read by MyST.

``scripts/test.sh`` builds it with ``sphinx-build -W --keep-going -n -E``: every warning fails the
build, and in nitpicky mode so does every cross-reference that resolves to nothing, a link to a
missing page and a link to a missing heading anchor (``myst_heading_anchors``) included.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version as distribution_version
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

project = "airflow-provider-cscs-dwdi"
PACKAGE = "airflow_provider_cscs_dwdi"
author = "airflow-provider-cscs-dwdi developers"
release = distribution_version(project)
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Pages link to each other's sections as [text](page.md#section-title): MyST gives headings down to
# ### slug anchors, and a link to an anchor that does not exist is a warning, hence a failed build.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "substitution"]
nitpicky = True

# The reference pages document the public classes from their docstrings. Signatures show names and
# defaults; the types are in the docstrings, so the build needs no external inventory (no network).
autodoc_typehints = "none"
autodoc_member_order = "bysource"


def requirements_table(pyproject: Path) -> str:
    """The home page's requirements, as a Markdown table read from what ``pyproject.toml`` declares."""
    declared = tomllib.loads(pyproject.read_text())["project"]
    rows = ["| package | version required |", "|---|---|", f"| Python | `{declared['requires-python']}` |"]
    for requirement in declared["dependencies"]:
        parsed = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*(.*)", requirement.split(";")[0].strip())
        if parsed is None:
            raise ValueError(f"pyproject.toml: cannot read the dependency {requirement!r}")
        name, specifier = parsed.groups()
        rows.append(f"| `{name}` | `{specifier or 'any'}` |")
    return "\n".join(rows)


def extras_table(pyproject: Path) -> str:
    """The optional dependencies (extras) ``pyproject.toml`` declares, as a Markdown table."""
    extras = tomllib.loads(pyproject.read_text())["project"].get("optional-dependencies", {})
    rows = ["| extra | installs |", "|---|---|"]
    rows += [
        f"| `{name}` | {', '.join(f'`{package}`' for package in packages)} |"
        for name, packages in extras.items()
    ]
    return "\n".join(rows)


PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"
myst_substitutions = {
    "requirements_table": requirements_table(PYPROJECT),
    "extras_table": extras_table(PYPROJECT),
}

html_theme = "alabaster"
html_title = f"{project} {release}"
html_static_path: list[str] = []


def _list_templated_fields(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """Append an operator's ``template_fields`` to its documented docstring (they are not in it)."""
    template_fields = getattr(obj, "template_fields", None) if what == "class" else None
    if template_fields:
        lines.extend(
            ["", "Templated fields: " + ", ".join(f"``{field}``" for field in template_fields) + "."]
        )


def _resolve_package_relative(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    """Resolve the docstrings' short references (``core.xcom.FetchResult``, ``PushToWaldurOperator``).

    The docstrings name classes relative to the package, as the code reads; each must still resolve
    to exactly one documented object, or the build fails (an ambiguous short name too). A reference
    to a private module or name (``:mod:`._clock```) is shown as text: the pages document the
    public API only.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    if any(part.startswith("_") for part in target.lstrip(".~").split(".")):
        return contnode
    domain = env.get_domain("py")
    candidates = [
        name
        for name in domain.objects
        if name == f"{PACKAGE}.{target}" or ("." not in target and name.endswith(f".{target}"))
    ]
    if len(candidates) != 1:
        return None
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], candidates[0], node, contnode
    )


def setup(app: Sphinx) -> dict[str, Any]:
    """Sphinx's hook for a project's own extensions: the two handlers above."""
    app.connect("autodoc-process-docstring", _list_templated_fields)
    app.connect("missing-reference", _resolve_package_relative)
    return {"parallel_read_safe": True}
