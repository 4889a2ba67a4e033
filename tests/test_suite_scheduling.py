"""How `make test` spreads the suite over pytest-xdist workers (the hooks in tests/conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import LONG_RUNNING_MARKS, ModuleScheduling, pytest_collection_modifyitems

TESTS = Path(__file__).resolve().parent
DOCS = TESTS.parent / "docs"
GROUP_MARK = 'xdist_group("builds_in_the_checkout")'


def scope_of(nodeid: str) -> str:
    return ModuleScheduling._split_scope(object.__new__(ModuleScheduling), nodeid)


def test_a_module_is_one_unit_and_a_group_mark_joins_modules() -> None:
    assert scope_of("tests/e2e/test_audit.py::test_one") == "tests/e2e/test_audit.py"
    assert scope_of("tests/e2e/test_audit.py::test_two[7.x]") == "tests/e2e/test_audit.py"
    assert scope_of("tests/e2e/test_audit.py::Class::test_three") == "tests/e2e/test_audit.py"
    # An '@' in a parameter id is not a group.
    assert scope_of("tests/hooks/test_x.py::test_mail[a@b.ch]") == "tests/hooks/test_x.py"
    # xdist's loadgroup appends the group to the node id of every test that carries the mark.
    assert scope_of("tests/docs/test_pages.py::test_page[bare-metal.md]@builds") == "builds"
    assert scope_of("tests/packaging/test_wheel_install.py::test_sdist@builds") == "builds"


def test_every_module_that_builds_the_checkout_is_in_the_one_build_group() -> None:
    """Two setuptools builds in one checkout at once share build/ and *.egg-info."""
    builds_pages = {page.name for page in DOCS.glob("*.md") if "python -m build" in page.read_text()}
    assert builds_pages, "no docs page builds the wheel any more: this test needs a new anchor"
    builders = []
    for module in sorted(set(TESTS.rglob("test_*.py")) - {Path(__file__).resolve()}):
        text = module.read_text()
        runs_a_build = re.search(r'"-m", "build"|"wheel",.*"\."|pip\("wheel"', text) is not None
        runs_pages = module.parent.name == "docs" and "run_page" in text
        if runs_a_build or runs_pages:
            builders.append(module.relative_to(TESTS).as_posix())
            assert GROUP_MARK in text, f"{module.name} builds in the checkout without the group mark"
    assert sorted(builders) == [
        "deployment/test_celery_deployment.py",
        "docs/test_pages.py",
        "packaging/test_wheel_install.py",
    ]


@dataclass
class FakeItem:
    name: str
    marks: set[str] = field(default_factory=set)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.marks else None


def test_modules_that_start_real_servers_are_collected_first_in_their_order() -> None:
    items = [
        FakeItem("core"),
        FakeItem("real", {"real_waldur"}),
        FakeItem("hooks", {"airflow"}),
        FakeItem("deployment", {"deployment"}),
        FakeItem("packaging", {"packaging"}),
        FakeItem("sandbox"),
    ]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.name for item in items] == ["real", "deployment", "packaging", "core", "hooks", "sandbox"]
    assert set(LONG_RUNNING_MARKS) == {"deployment", "real_waldur", "packaging"}


@pytest.mark.parametrize("mark", LONG_RUNNING_MARKS)
def test_the_long_running_marks_are_registered(mark: str, pytestconfig: pytest.Config) -> None:
    assert any(line.startswith(f"{mark}:") for line in pytestconfig.getini("markers"))
