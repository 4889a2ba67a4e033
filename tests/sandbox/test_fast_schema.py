"""The schema pre-check never accepts what the full jsonschema validator refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from openapi_schema_validator import OAS30WriteValidator

from sandbox.openapi_check import _FORMAT_CHECKER, SchemaCheck
from sandbox.waldur import waldur_api_checker

#: Values of every JSON type, valid and not, for every position of a request.
_SCALARS: tuple[Any, ...] = (
    None,
    True,
    0,
    7,
    -1,
    2**40,
    Decimal("1.5"),
    "",
    "x",
    "1.00",
    "-12.34",
    "1.234",
    "NaN",
    "1" * 19,
    "a" * 101,
    "4c1cbd8c1d2e4b8fa6b0b0b4a3f1c9de",
    "4c1cbd8c-1d2e-4b8f-a6b0-b0b4a3f1c9de",
    "not-a-uuid",
    "https://waldur.example.org/api/marketplace-offering-users/4c1cbd8c1d2e4b8fa6b0b0b4a3f1c9de/",
    "/relative/path",
    "2026-11-15T12:00:00Z",
    "2026-11-15",
    "OK",
    [],
    {},
)


def _checks() -> list[tuple[str, SchemaCheck]]:
    found = []
    for operation in waldur_api_checker()._operations:
        named = [
            *((f"path {name}", check) for name, check in operation.path_parameters.items()),
            *((f"query {name}", parameter.check) for name, parameter in operation.query_parameters.items()),
            *([("body", operation.body_check)] if operation.body_check else []),
        ]
        # Schemas without a pre-check are checked by jsonschema alone: nothing to compare there.
        found += [
            (f"{operation.method} {operation.template} {where}", check)
            for where, check in named
            if check.precheck is not None
        ]
    return found


def _valid(schema: Any, instance: Any) -> bool:
    return not list(OAS30WriteValidator(schema, format_checker=_FORMAT_CHECKER).iter_errors(instance))


def _instances(schema: Any, depth: int = 0) -> list[Any]:
    """Scalars plus objects and arrays shaped after ``schema``: valid ones, and each with one part wrong."""
    instances = list(_SCALARS)
    if not isinstance(schema, dict) or depth > 3:
        return instances
    if "items" in schema:
        items = _instances(schema["items"], depth + 1)
        good = [item for item in items if _valid(schema["items"], item)][:3]
        instances += [[item] for item in items] + [good, good * 7, [*good, items[0]]]
    properties = schema.get("properties", {})
    if properties:
        choices = {name: _instances(sub, depth + 1) for name, sub in properties.items()}
        full = {
            name: next((value for value in values if _valid(properties[name], value)), None)
            for name, values in choices.items()
        }
        instances += [full, {}]
        for name, values in choices.items():
            instances.append({key: item for key, item in full.items() if key != name})
            instances += [{**full, name: value} for value in values]
    return instances


@pytest.mark.parametrize(
    ("where", "check"), _checks(), ids=lambda value: value if isinstance(value, str) else ""
)
def test_precheck_accepts_only_what_the_validator_accepts(where: str, check: SchemaCheck) -> None:
    assert check.precheck is not None
    instances = _instances(check.validator.schema)
    for instance in instances:
        if check.precheck(instance):
            assert not list(check.validator.iter_errors(instance)), (where, instance)
    # Not vacuous: valid requests exist among the instances and the pre-check passes them.
    assert any(check.precheck(instance) for instance in instances), where


def test_request_bodies_of_the_push_are_prechecked() -> None:
    bodies = {op.template: op.body_check for op in waldur_api_checker()._operations if op.body_check}
    assert bodies["/api/marketplace-component-usages/set_usage/"].precheck is not None
    assert bodies["/api/marketplace-component-usages/{uuid}/set_user_usages/"].precheck is not None
