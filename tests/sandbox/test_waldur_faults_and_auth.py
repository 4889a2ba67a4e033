"""Fault injection, DRF token authentication, latency and request recording of the Waldur sandbox."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import requests

from sandbox.waldur import EXPIRED_TOKEN, INVALID_TOKEN, NO_CREDENTIALS, WaldurSandbox
from tests.sandbox.waldur_support import (
    NOVEMBER,
    RESOURCES,
    SET_USAGE,
    TODAY,
    MakeSandbox,
    component_usage_url,
    node_hours,
    seeded,
    session,
    set_usage,
)


def test_fault_injection_answers_first_then_lets_requests_through(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    _, (resource,) = seeded(sandbox)
    sandbox.fail_next("post", r"/set_usage/$", 503, times=2, headers={"Retry-After": "1"})

    answers = [set_usage(sandbox, resource, node_hours("2.00")) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [503, 503, 201]
    assert answers[0].headers["Retry-After"] == "1"
    assert [request.status for request in sandbox.requests] == [503, 503, 201]
    assert sandbox.usage(resource, "nodeHours", NOVEMBER) == Decimal("2.00")


def test_fault_after_processing_lets_the_write_happen(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    _, (resource,) = seeded(sandbox)
    sandbox.fail_next("POST", r"/set_usage/$", 504, body={"detail": "Gateway Timeout"}, after_processing=True)

    answer = set_usage(sandbox, resource, node_hours("9.00"))

    assert (answer.status_code, answer.json()) == (504, {"detail": "Gateway Timeout"})
    assert sandbox.usage(resource, "nodeHours", NOVEMBER) == Decimal("9.00")


def test_authentication_errors_have_the_drf_messages(waldur_sandbox: WaldurSandbox) -> None:
    me = waldur_sandbox.url + "/api/users/me/"

    missing = requests.get(me)
    unknown = requests.get(me, headers={"Authorization": "Token " + "0" * 40})
    waldur_sandbox.expire_token(waldur_sandbox.provider_token)
    expired = session(waldur_sandbox, waldur_sandbox.provider_token).get(me)
    staff = session(waldur_sandbox).get(me)

    assert [(r.status_code, r.json()["detail"]) for r in (missing, unknown, expired)] == [
        (401, NO_CREDENTIALS),
        (401, INVALID_TOKEN),
        (401, EXPIRED_TOKEN),
    ]
    assert (staff.status_code, staff.json()["is_staff"]) == (200, True)
    assert [request.status for request in waldur_sandbox.requests] == [401, 401, 401, 200]


def test_users_me_reflects_the_token(waldur_sandbox: WaldurSandbox) -> None:
    me = waldur_sandbox.url + "/api/users/me/"

    provider = session(waldur_sandbox, waldur_sandbox.provider_token).get(me).json()
    staff = session(waldur_sandbox, waldur_sandbox.staff_token).get(me).json()

    assert (provider["is_staff"], staff["is_staff"]) == (False, True)
    assert len(waldur_sandbox.staff_token) == len(waldur_sandbox.provider_token) == 40
    assert waldur_sandbox.staff_token not in repr(waldur_sandbox)


def test_latency_is_added_to_every_request(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(latency_seconds=0.05)
    client = session(sandbox)

    started = time.perf_counter()
    client.get(sandbox.url + "/api/users/me/")

    assert time.perf_counter() - started >= 0.05


def test_requests_are_recorded_with_query_and_json(waldur_sandbox: WaldurSandbox) -> None:
    _, (resource,) = seeded(waldur_sandbox)
    set_usage(waldur_sandbox, resource, node_hours("1.50"))
    session(waldur_sandbox).get(waldur_sandbox.url + RESOURCES, params={"state": ["OK", "Updating"]})

    posted, listed = waldur_sandbox.requests
    assert (posted.method, posted.path, posted.status) == ("POST", SET_USAGE, 201)
    assert posted.json == {"resource": resource, "usages": [{"type": "nodeHours", "amount": "1.50"}]}
    assert (listed.method, listed.query) == ("GET", {"state": ["OK", "Updating"]})
    waldur_sandbox.reset_requests()
    assert waldur_sandbox.requests == []


def test_requests_are_counted_per_endpoint_including_404_probes(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(version="7", today=TODAY)
    offering, (resource,) = seeded(sandbox)
    set_usage(sandbox, resource, node_hours("1.00"))
    usage_url = component_usage_url(sandbox, offering, NOVEMBER)
    client = session(sandbox)

    probes = [
        client.post(usage_url + "set_user_usages/", json={"usages": [{"username": "a", "usage": "1.00"}]})
        for _ in range(2)
    ]

    assert [probe.status_code for probe in probes] == [404, 404]
    assert sandbox.request_counts() == {
        "POST /api/marketplace-component-usages/set_usage/": 1,
        "GET /api/marketplace-component-usages/": 1,
        "POST /api/marketplace-component-usages/{uuid}/set_user_usages/": 2,
    }
    sandbox.reset_requests()
    assert sandbox.request_counts() == {}


def test_hold_keeps_matching_writes_waiting_until_released_then_commits_them(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    _, (resource,) = seeded(sandbox)
    hold = sandbox.hold("POST", r"/set_usage/$")
    answers: list[requests.Response] = []
    writer = threading.Thread(target=lambda: answers.append(set_usage(sandbox, resource, node_hours("4.00"))))

    writer.start()
    assert hold.arrived.wait(30)
    other = session(sandbox).get(sandbox.url + RESOURCES, timeout=30)  # not held
    held_usage = sandbox.usage(resource, "nodeHours", NOVEMBER)
    hold.release()
    writer.join(30)

    assert other.status_code == 200
    assert held_usage is None  # nothing was written while held
    assert [answer.status_code for answer in answers] == [201]
    assert sandbox.usage(resource, "nodeHours", NOVEMBER) == Decimal("4.00")
