"""Usage kinds and the resource UUID spelling that inference billing is keyed by."""

from __future__ import annotations

import pytest

from airflow_provider_cscs_dwdi.core.kinds import UsageKind, normalise_resource_uuid

DASHED = "1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9"
WALDUR = "1f2e3d4c5b6a49788695a4b3c2d1e0f9"


@pytest.mark.parametrize("value", [DASHED, DASHED.lower(), WALDUR, WALDUR.upper()])
def test_dashed_or_not_in_any_case_is_waldurs_spelling(value: str) -> None:
    assert normalise_resource_uuid(value) == WALDUR


@pytest.mark.parametrize(
    "value",
    [
        "",
        "g207",
        WALDUR[:-1],
        WALDUR + "0",
        f"{{{DASHED}}}",
        f"urn:uuid:{DASHED}",
        f" {WALDUR}",
        "1f2e-3d4c" * 4,
        None,
        42,
    ],
)
def test_anything_else_is_not_a_resource_uuid(value: object) -> None:
    assert normalise_resource_uuid(value) is None  # type: ignore[arg-type]


def test_only_compute_has_a_per_user_breakdown() -> None:
    assert [kind.value for kind in UsageKind if kind.has_users] == ["compute"]
