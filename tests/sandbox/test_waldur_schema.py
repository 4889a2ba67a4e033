"""The Waldur sandbox enforces the OpenAPI subset on requests and its responses conform to it."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.openapi_check import load_document
from sandbox.waldur import SCHEMA_PATH, WaldurSandbox, waldur_api_checker
from tests.sandbox.waldur_support import (
    COMPONENT_USAGES,
    NOVEMBER,
    RESOURCES,
    SET_USAGE,
    TODAY,
    MakeSandbox,
    node_hours,
    seeded,
    session,
    set_usage,
)

# --------------------------------------------------------------------------- schema enforcement


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param({"usages": node_hours("1.234")}, "does not match", id="three-decimals"),
        pytest.param({"usages": node_hours("NaN")}, "does not match", id="nan"),
        pytest.param({"usages": node_hours("1" * 19)}, "does not match", id="twenty-one-digits"),
        pytest.param(
            {"usages": [{"type": "nodeHours", "amount": 1.5}]}, "is not of type 'string'", id="number"
        ),
        pytest.param({"usages": [{"amount": "1.00"}]}, "'type' is a required property", id="missing-type"),
        pytest.param({"resource": "not-a-uuid"}, "is not a 'uuid'", id="bad-uuid"),
    ],
)
def test_schema_rejects_bad_set_usage_bodies(
    waldur_sandbox: WaldurSandbox, body: dict[str, Any], problem: str
) -> None:
    _, (resource,) = seeded(waldur_sandbox)

    answer = session(waldur_sandbox).post(
        waldur_sandbox.url + SET_USAGE, json={"resource": resource, "usages": node_hours("1.00"), **body}
    )

    assert answer.status_code == 400
    assert problem in " ".join(answer.json()["schema_violations"])
    assert len(waldur_sandbox.schema_violations) == 1
    assert problem in waldur_sandbox.schema_violations[0]
    assert waldur_sandbox.usage(resource, "nodeHours", NOVEMBER) is None


def test_schema_rejects_missing_body_field_unknown_query_parameter_and_unknown_path(
    waldur_sandbox: WaldurSandbox,
) -> None:
    client = session(waldur_sandbox)

    no_usages = client.post(waldur_sandbox.url + SET_USAGE, json={"resource": "a" * 32})
    typo_filter = client.get(waldur_sandbox.url + COMPONENT_USAGES, params={"billing_periode": NOVEMBER})
    bad_state = client.get(waldur_sandbox.url + RESOURCES, params={"state": "ok"})
    no_slash = client.post(waldur_sandbox.url + SET_USAGE.rstrip("/"), json={"usages": []})

    assert [no_usages.status_code, typo_filter.status_code, bad_state.status_code] == [400, 400, 400]
    assert no_slash.status_code == 404
    violations = "\n".join(waldur_sandbox.schema_violations)
    assert len(waldur_sandbox.schema_violations) == 4
    assert "'usages' is a required property" in violations
    assert "'billing_periode' is not declared" in violations
    assert "'ok' is not an allowed value" in violations
    assert "no path template" in violations


def test_without_validation_the_server_still_validates_amounts_like_drf(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    sandbox = make_waldur_sandbox(validate=False, today=TODAY)
    _, (resource,) = seeded(sandbox)

    answers = [set_usage(sandbox, resource, node_hours(amount)) for amount in ("1.234", "NaN", "1" * 21)]

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert [answer.json()["usages"][0]["amount"] for answer in answers] == [
        ["Ensure that there are no more than 2 decimal places."],
        ["A valid number is required."],
        ["Ensure that there are no more than 20 digits in total."],
    ]
    assert sandbox.schema_violations == []


# --------------------------------------------------------------------------- responses vs schema


def test_every_response_conforms_to_the_schema_with_the_documented_deviations(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    checker = waldur_api_checker()
    for version in ("7", "8"):
        sandbox = make_waldur_sandbox(version=version, today=TODAY)
        offering, resources = seeded(sandbox, resources=2)
        alice_url = sandbox.add_offering_user(offering, "alice")
        set_usage(sandbox, resources[0], [*node_hours("10.50"), {"type": "storage", "amount": "3.00"}])
        usage_uuid = (
            session(sandbox)
            .get(sandbox.url + COMPONENT_USAGES, params={"offering_uuid": offering, "type": "nodeHours"})
            .json()[0]["uuid"]
        )
        session(sandbox).post(
            f"{sandbox.url}{COMPONENT_USAGES}{usage_uuid}/set_user_usage/",
            json={"username": "alice", "usage": "4.25", "user": alice_url},
        )
        session(sandbox).post(
            f"{sandbox.url}{COMPONENT_USAGES}{usage_uuid}/set_user_usage/",
            json={"username": "ghost", "usage": "1.00"},
        )
        for path in (
            RESOURCES,
            f"{RESOURCES}{resources[0]}/",
            f"/api/marketplace-provider-offerings/{offering}/",
            COMPONENT_USAGES,
            "/api/marketplace-component-user-usages/",
            "/api/marketplace-offering-users/",
            "/api/users/me/",
        ):
            answer = session(sandbox).get(sandbox.url + path)
            assert answer.status_code == 200, path
            assert answer.json(), path
            assert checker.check_response("GET", path, 200, answer.json()) == [], (version, path)


def test_the_documented_usage_deviation_is_real() -> None:
    """The published schema says integer; the real server (and the sandbox) send "10.50"."""
    schemas = load_document(SCHEMA_PATH)["components"]["schemas"]

    assert schemas["ComponentUsage"]["properties"]["usage"]["type"] == "integer"
    assert schemas["ComponentUserUsage"]["properties"]["usage"]["type"] == "integer"
    problems = waldur_api_checker().check_response("GET", COMPONENT_USAGES, 200, [{"usage": 10}])
    assert problems
    assert "is not of type 'string'" in problems[0]
