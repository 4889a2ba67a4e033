"""The DWDI compute-API double: endpoints, filters, limits, fault injection, recording and auth."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.dwdi_data import DwdiDataset
from sandbox.dwdi_server import DAY_PATH, MONTH_PATHS, DWDISandbox
from sandbox.oidc_issuer import OidcIssuerProcess

MONTH_PATH = "/api/v1/compute/usage-month/account"
TODAY = date(2026, 11, 23)
ACCOUNTS = [f"g{number:03d}" for number in range(1, 21)]
STATIC = "static-test-token"
MakeSandbox = Callable[..., DWDISandbox]


@pytest.fixture
def dataset() -> DwdiDataset:
    return DwdiDataset(accounts=ACCOUNTS, today=TODAY)


@pytest.fixture
def open_sandbox(make_dwdi_sandbox: MakeSandbox, dataset: DwdiDataset) -> DWDISandbox:
    """No authentication: for the data and fault tests."""
    return make_dwdi_sandbox(dataset=dataset)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        # The machine's proxy settings must never route loopback test traffic.
        http.trust_env = False
        yield http


def _get(
    http: requests.Session,
    sandbox: DWDISandbox,
    path: str = MONTH_PATH,
    token: str | None = None,
    **query: Any,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(sandbox.url + path, params=query, headers=headers, timeout=10)


def _pairs(response: requests.Response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return [(entry["account"], entry["cluster"]) for entry in response.json()["compute"]]


# ---------------------------------------------------------------------------------------- data


@pytest.mark.parametrize("path", MONTH_PATHS)
def test_both_month_paths_serve_the_dataset(
    open_sandbox: DWDISandbox, dataset: DwdiDataset, session: requests.Session, path: str
) -> None:
    response = _get(session, open_sandbox, path, **{"from": "2026-10", "to": "2026-10"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"compute": dataset.entries("2026-10")}
    # Floats go out as their exact three-decimal text.
    first = dataset.entries("2026-10")[0]
    assert f'"totalNodeHours": {first["totalNodeHours"]!r}' in response.text


def test_repeated_account_and_cluster_parameters_filter(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    month = {"from": "2026-10", "to": "2026-10"}
    both = _get(session, open_sandbox, **month, account=["g001", "g002", "unknown"])
    assert _pairs(both) == [("g001", "daint"), ("g001", "eiger"), ("g002", "daint"), ("g002", "eiger")]
    eiger = _get(session, open_sandbox, **month, account=["g001", "g002"], cluster="eiger")
    assert _pairs(eiger) == [("g001", "eiger"), ("g002", "eiger")]
    two_clusters = _get(session, open_sandbox, **month, account="g001", cluster=["eiger", "daint"])
    assert _pairs(two_clusters) == [("g001", "daint"), ("g001", "eiger")]
    assert _pairs(_get(session, open_sandbox, **month, cluster="alps")) == []
    assert open_sandbox.requests[0].query["account"] == ["g001", "g002", "unknown"]


def test_a_month_range_gives_one_entry_per_month(
    open_sandbox: DWDISandbox, dataset: DwdiDataset, session: requests.Session
) -> None:
    response = _get(session, open_sandbox, **{"from": "2026-09", "to": "2026-12"}, account="g001")
    assert response.status_code == 200
    expected = [*dataset.entries("2026-09", ["g001"]), *dataset.entries("2026-10", ["g001"])]
    expected += dataset.entries("2026-11", ["g001"])  # and nothing for December (after today)
    assert response.json()["compute"] == expected
    assert len(expected) == 6


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"from": "2026-10"},
        {"to": "2026-10"},
        {"from": "2026-13", "to": "2026-13"},
        {"from": "2026-1", "to": "2026-01"},
        {"from": "2026-10-01", "to": "2026-10"},
        {"from": "", "to": "2026-10"},
        {"from": "2026-11", "to": "2026-10"},
        {"from": ["2026-10", "2026-11"], "to": "2026-11"},
        {"from": "1900-01", "to": "2100-12"},
    ],
)
def test_missing_or_bad_months_are_400(
    open_sandbox: DWDISandbox, session: requests.Session, query: dict[str, Any]
) -> None:
    response = _get(session, open_sandbox, **query)
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
    assert open_sandbox.requests[-1].status == 400


def test_day_endpoint_cuts_rows_to_the_days_and_recomputes_totals(
    open_sandbox: DWDISandbox, dataset: DwdiDataset, session: requests.Session
) -> None:
    response = _get(session, open_sandbox, DAY_PATH, **{"from": "2026-10-30", "to": "2026-11-02"})
    assert response.status_code == 200
    expected = []
    for month in ("2026-10", "2026-11"):
        for entry in dataset.entries(month):
            rows = [row for row in entry["users"] if "2026-10-30" <= row["usageDate"] <= "2026-11-02"]
            if rows:
                expected.append((entry["account"], entry["cluster"], rows))
    entries = response.json()["compute"]
    assert [(e["account"], e["cluster"], e["users"]) for e in entries] == expected
    assert len(expected) > 10
    for entry in entries:
        total = sum((Decimal(repr(row["nodeHours"])) for row in entry["users"]), Decimal(0))
        assert Decimal(repr(entry["totalNodeHours"])) == total
        if "totalGpuHours" in entry:
            gpu = sum((Decimal(repr(row["gpuHours"])) for row in entry["users"]), Decimal(0))
            assert Decimal(repr(entry["totalGpuHours"])) == gpu
    # One day ("ping"): only that day's rows.
    one_day = _get(session, open_sandbox, DAY_PATH, **{"from": "2026-11-23", "to": "2026-11-23"})
    assert {row["usageDate"] for e in one_day.json()["compute"] for row in e["users"]} == {"2026-11-23"}


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-10", "to": "2026-10"},
        {"from": "2026-10-32", "to": "2026-11-01"},
        {"from": "2026-11-02", "to": "2026-11-01"},
    ],
)
def test_day_endpoint_bad_dates_are_400(
    open_sandbox: DWDISandbox, session: requests.Session, query: dict[str, str]
) -> None:
    assert _get(session, open_sandbox, DAY_PATH, **query).status_code == 400


def test_unknown_path_is_404_and_other_methods_405(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    assert session.get(open_sandbox.url + "/api/v1/compute/nothing", timeout=10).status_code == 404
    response = session.post(open_sandbox.url + MONTH_PATH + "?from=2026-10&to=2026-10", timeout=10)
    assert response.status_code == 405


def test_long_request_targets_are_414(make_dwdi_sandbox: MakeSandbox, session: requests.Session) -> None:
    sandbox = make_dwdi_sandbox(max_url_bytes=300, dataset=DwdiDataset(accounts=["g1"], today=TODAY))
    base = f"{MONTH_PATH}?from=2026-10&to=2026-10"
    padding = "&account=" + "x" * (300 - len(base) - len("&account="))
    at_limit = base + padding
    assert len(at_limit) == 300
    assert session.get(sandbox.url + at_limit, timeout=10).status_code == 200
    response = session.get(sandbox.url + at_limit + "x", timeout=10)
    assert response.status_code == 414
    assert [(r.status, r.url_length) for r in sandbox.requests] == [(200, 300), (414, 301)]


def test_default_limit_counts_the_whole_query(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    """About 800 account parameters do not fit in 8 KiB: the client has to split them."""
    accounts = [f"a{number:04d}" for number in range(800)]
    response = _get(session, open_sandbox, **{"from": "2026-10", "to": "2026-10"}, account=accounts)
    assert response.status_code == 414
    assert response.headers["Connection"] == "close"  # the client must not reuse this socket
    assert open_sandbox.requests[-1].url_length > 8192
    assert _get(session, open_sandbox, **{"from": "2026-10", "to": "2026-10"}, account=accounts[:400]).ok


# -------------------------------------------------------------------------- explicit data


def test_set_entries_overrides_one_month_as_is(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    raw = [
        {"account": "x1", "cluster": "daint", "accountNodeHours": None, "users": [{"username": "a"}]},
        {"account": "x2", "cluster": "eiger", "totalNodeHours": "12", "users": []},
        {"cluster": "daint", "users": "not a list"},
        "not an object",
    ]
    open_sandbox.set_entries("2026-10", raw)
    raw[0]["account"] = "mutated later"  # the sandbox keeps its own copy
    month = {"from": "2026-10", "to": "2026-10"}
    served = _get(session, open_sandbox, **month).json()["compute"]
    assert served[0]["account"] == "x1"
    assert served[1:] == raw[1:]
    # Filters drop only entries that name another account/cluster; malformed ones always come.
    filtered = _get(session, open_sandbox, **month, account="x1", cluster="daint").json()["compute"]
    assert filtered == [served[0], served[2], served[3]]
    # Other months still come from the dataset; None restores the month.
    assert _pairs(_get(session, open_sandbox, **{"from": "2026-09", "to": "2026-09"}, account="g001"))
    open_sandbox.set_entries("2026-10", None)
    assert _get(session, open_sandbox, **month, account="x1").json() == {"compute": []}


def test_no_dataset_serves_only_explicit_entries(
    make_dwdi_sandbox: MakeSandbox, session: requests.Session
) -> None:
    sandbox = make_dwdi_sandbox()
    assert _get(session, sandbox, **{"from": "2026-10", "to": "2026-10"}).json() == {"compute": []}
    sandbox.set_entries("2026-10", [{"account": "g1", "cluster": "daint", "users": []}])
    assert _pairs(_get(session, sandbox, **{"from": "2026-09", "to": "2026-10"})) == [("g1", "daint")]


def test_raw_response_is_served_byte_for_byte(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    open_sandbox.set_raw_response(b"<html>gateway</html>", "text/html", status=200, count=2)
    month = {"from": "2026-10", "to": "2026-10"}
    for _ in range(2):
        response = _get(session, open_sandbox, **month)
        assert (response.status_code, response.content) == (200, b"<html>gateway</html>")
        assert response.headers["Content-Type"] == "text/html"
    assert _get(session, open_sandbox, **month).json()["compute"]


# -------------------------------------------------------------------------- faults


def test_fail_next_counts_and_then_recovers(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    open_sandbox.fail_next(503, count=2)
    month = {"from": "2026-10", "to": "2026-10"}
    statuses = [_get(session, open_sandbox, **month).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [r.status for r in open_sandbox.requests] == [503, 503, 200]


def test_fail_next_with_headers_and_body(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    open_sandbox.fail_next(429, headers={"Retry-After": "1"})
    open_sandbox.fail_next(502, body=b"bad gateway", content_type="text/plain")
    month = {"from": "2026-10", "to": "2026-10"}
    first = _get(session, open_sandbox, **month)
    assert (first.status_code, first.headers["Retry-After"], first.json()) == (
        429,
        "1",
        {"detail": "injected"},
    )
    second = _get(session, open_sandbox, **month)
    assert (second.status_code, second.text, second.headers["Content-Type"]) == (
        502,
        "bad gateway",
        "text/plain",
    )
    assert _get(session, open_sandbox, **month).status_code == 200


def test_faults_come_before_authentication(make_dwdi_sandbox: MakeSandbox, session: requests.Session) -> None:
    sandbox = make_dwdi_sandbox(static_token=STATIC)
    sandbox.fail_next(503)
    assert _get(session, sandbox, **{"from": "2026-10", "to": "2026-10"}).status_code == 503


def test_delay_next(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    open_sandbox.delay_next(0.3)
    month = {"from": "2026-10", "to": "2026-10"}
    started = time.monotonic()
    assert _get(session, open_sandbox, **month).ok
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert _get(session, open_sandbox, **month).ok
    assert time.monotonic() - started < 0.3
    # A client with a shorter timeout sees the delay as a timeout.
    open_sandbox.delay_next(0.5)
    with pytest.raises(requests.Timeout):
        session.get(open_sandbox.url + MONTH_PATH, params=month, timeout=0.1)


def test_recording_and_reset(make_dwdi_sandbox: MakeSandbox, session: requests.Session) -> None:
    sandbox = make_dwdi_sandbox(static_token=STATIC)
    _get(session, sandbox, token=STATIC, **{"from": "2026-10", "to": "2026-10"}, account=["a", "b"])
    _get(session, sandbox, **{"from": "2026-10", "to": "2026-10"})
    first, second = sandbox.requests
    assert first.method == "GET"
    assert first.path == MONTH_PATH
    assert first.query == {"from": ["2026-10"], "to": ["2026-10"], "account": ["a", "b"]}
    assert first.url_length == len(f"{MONTH_PATH}?from=2026-10&to=2026-10&account=a&account=b")
    assert (first.authorized, first.status, first.token_subject) == (True, 200, None)
    assert (second.authorized, second.status) == (False, 401)
    # Admin calls are not recorded.
    assert session.get(sandbox.url + "/sandbox/info", timeout=10).ok
    assert len(sandbox.requests) == 2
    sandbox.reset_requests()
    assert sandbox.requests == []


def test_concurrent_requests_are_all_answered_and_recorded(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    open_sandbox.fail_next(503, count=5)

    def call(index: int) -> int:
        with requests.Session() as http:
            http.trust_env = False
            return _get(
                http, open_sandbox, **{"from": "2026-10", "to": "2026-10"}, account=f"g{index:03d}"
            ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(1, 41)))
    assert sorted(statuses) == [200] * 35 + [503] * 5
    assert len(open_sandbox.requests) == 40


# -------------------------------------------------------------------------- admin API and CLI


def test_admin_api(open_sandbox: DWDISandbox, dataset: DwdiDataset, session: requests.Session) -> None:
    info = session.get(open_sandbox.url + "/sandbox/info", timeout=10).json()
    assert info == {
        "url": open_sandbox.url,
        "today": "2026-11-23",
        "accounts": ACCOUNTS,
        "clusters": ["daint", "eiger"],
        "auth": "none",
    }
    expected = session.get(
        open_sandbox.url + "/sandbox/expected", params={"month": "2026-10", "account": "g001"}, timeout=10
    ).json()
    truth = dataset.expected_totals("2026-10", ["g001"])
    assert expected["g001"]["total"]["nodeHours"] == str(truth["g001"]["total"]["nodeHours"])
    entries = [{"account": "z", "cluster": "daint", "users": []}]
    assert session.post(
        open_sandbox.url + "/sandbox/entries", json={"month": "2026-10", "entries": entries}, timeout=10
    ).ok
    assert session.post(
        open_sandbox.url + "/sandbox/fail-next", json={"status": 503, "count": 1}, timeout=10
    ).ok
    month = {"from": "2026-10", "to": "2026-10"}
    assert _get(session, open_sandbox, **month).status_code == 503
    assert _get(session, open_sandbox, **month).json() == {"compute": entries}
    recorded = session.get(open_sandbox.url + "/sandbox/requests", timeout=10).json()["requests"]
    assert [r["status"] for r in recorded] == [503, 200]
    bad = session.post(
        open_sandbox.url + "/sandbox/entries", json={"month": "2026-13", "entries": []}, timeout=10
    )
    assert bad.status_code == 400


def _run_cli(*arguments: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.dwdi_server", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        raise AssertionError(f"no READY line: {line!r} {process.communicate()[1]}")
    return process, line.split(" ", 1)[1].strip()


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    assert process.wait(timeout=10) == 0


def test_cli_serves_a_generated_dataset(session: requests.Session) -> None:
    process, url = _run_cli(
        "--static-token", STATIC, "--accounts", "p1,p2", "--today", "2026-11-23", "--seed", "3"
    )
    try:
        headers = {"Authorization": f"Bearer {STATIC}"}
        response = session.get(
            url + MONTH_PATH, params={"from": "2026-10", "to": "2026-10"}, headers=headers, timeout=10
        )
        expected = DwdiDataset(accounts=["p1", "p2"], seed=3, today=TODAY).entries("2026-10")
        assert response.json() == {"compute": expected}
        assert (
            session.get(url + MONTH_PATH, params={"from": "2026-10", "to": "2026-10"}, timeout=10).status_code
            == 401
        )
    finally:
        _stop(process)


# -------------------------------------------------------------------------- authentication


def test_no_authentication_without_issuer_or_static_token(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    assert _get(session, open_sandbox, **{"from": "2026-10", "to": "2026-10"}).status_code == 200
    assert open_sandbox.requests[-1].authorized


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Token {STATIC}", "Bearer", f"Bearer {STATIC} extra", f"Basic {STATIC}"],
)
def test_static_token_refusals(
    make_dwdi_sandbox: MakeSandbox, session: requests.Session, authorization: str | None
) -> None:
    sandbox = make_dwdi_sandbox(static_token=STATIC)
    headers = {"Authorization": authorization} if authorization else {}
    response = session.get(
        sandbox.url + MONTH_PATH, params={"from": "2026-10", "to": "2026-10"}, headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert isinstance(response.json()["detail"], str)
    assert not sandbox.requests[-1].authorized


def test_static_token_accepted_and_rejected_on_demand(
    make_dwdi_sandbox: MakeSandbox, session: requests.Session
) -> None:
    sandbox = make_dwdi_sandbox(static_token=STATIC)
    month = {"from": "2026-10", "to": "2026-10"}
    assert _get(session, sandbox, token=STATIC, **month).status_code == 200
    sandbox.reject_next_token(count=2)
    statuses = [_get(session, sandbox, token=STATIC, **month).status_code for _ in range(3)]
    assert statuses == [401, 401, 200]
    assert [r.authorized for r in sandbox.requests] == [True, False, False, True]


def _token(issuer: OidcIssuerProcess, client_id: str, secret: str) -> str:
    response = requests.post(
        issuer.token_url,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_valid_issuer_token(
    dwdi_sandbox: DWDISandbox, oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    token = _token(oidc_issuer, "dwdi-client", "dwdi-secret")
    response = _get(
        session, dwdi_sandbox, token=token, **{"from": "2026-10", "to": "2026-10"}, account="g001"
    )
    assert response.status_code == 200
    assert _pairs(response)[0][0] == "g001"
    recorded = dwdi_sandbox.requests[-1]
    assert (recorded.authorized, recorded.token_subject) == (True, "dwdi-client")
    # A revoked token (injected) is refused once; the next call is fine again.
    dwdi_sandbox.reject_next_token()
    assert _get(session, dwdi_sandbox, token=token, **{"from": "2026-10", "to": "2026-10"}).status_code == 401
    assert _get(session, dwdi_sandbox, token=token, **{"from": "2026-10", "to": "2026-10"}).status_code == 200


def test_expired_token_is_401(
    dwdi_sandbox: DWDISandbox, oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    token = _token(oidc_issuer, "dwdi-short", "short-secret")
    month = {"from": "2026-10", "to": "2026-10"}
    assert _get(session, dwdi_sandbox, token=token, **month).status_code == 200
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    response = _get(session, dwdi_sandbox, token=token, **month)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"].lower()
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_garbage_tokens_are_401(dwdi_sandbox: DWDISandbox, session: requests.Session, token: str) -> None:
    response = session.get(
        dwdi_sandbox.url + MONTH_PATH,
        params={"from": "2026-10", "to": "2026-10"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_token_signed_by_another_key_is_401(
    dwdi_sandbox: DWDISandbox, oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    genuine = _token(oidc_issuer, "dwdi-client", "dwdi-secret")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    kid = jwt.get_unverified_header(genuine)["kid"]
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    month = {"from": "2026-10", "to": "2026-10"}
    for headers in ({"kid": kid}, {"kid": "unknown-kid"}):
        forged = jwt.encode(claims, forger, algorithm="RS256", headers=headers)
        assert _get(session, dwdi_sandbox, token=forged, **month).status_code == 401
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert _get(session, dwdi_sandbox, token=unsigned, **month).status_code == 401
    assert not any(r.authorized for r in dwdi_sandbox.requests)


@pytest.mark.parametrize(("issuer_suffix", "audience"), [("/other", "dwdi-api"), ("", "other-api")])
def test_wrong_issuer_or_audience_is_401(
    make_dwdi_sandbox: MakeSandbox,
    oidc_issuer: OidcIssuerProcess,
    session: requests.Session,
    issuer_suffix: str,
    audience: str,
) -> None:
    sandbox = make_dwdi_sandbox(
        jwks_url=oidc_issuer.jwks_url, issuer=oidc_issuer.realm_url + issuer_suffix, audience=audience
    )
    token = _token(oidc_issuer, "dwdi-client", "dwdi-secret")
    response = _get(session, sandbox, token=token, **{"from": "2026-10", "to": "2026-10"})
    assert response.status_code == 401
    # The same token passes a sandbox with the right settings (so the refusal is about iss/aud).
    right = make_dwdi_sandbox(jwks_url=oidc_issuer.jwks_url, issuer=oidc_issuer.realm_url)
    assert _get(session, right, token=token, **{"from": "2026-10", "to": "2026-10"}).status_code == 200


def test_unreachable_jwks_is_401_and_logged(
    make_dwdi_sandbox: MakeSandbox,
    oidc_issuer: OidcIssuerProcess,
    session: requests.Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = make_dwdi_sandbox()  # a port that answers nothing once stopped
    dead_url = closed.url + "/certs"
    closed.stop()
    sandbox = make_dwdi_sandbox(jwks_url=dead_url, issuer=oidc_issuer.realm_url)
    token = _token(oidc_issuer, "dwdi-client", "dwdi-secret")
    with caplog.at_level("WARNING", logger="sandbox.dwdi_server"):
        response = _get(session, sandbox, token=token, **{"from": "2026-10", "to": "2026-10"})
    assert response.status_code == 401
    assert "signing keys" in response.json()["detail"]
    assert any("JWKS" in record.getMessage() for record in caplog.records)
    assert token not in caplog.text


def test_cli_discovers_the_jwks_of_the_issuer(
    oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    process, url = _run_cli(
        "--issuer", oidc_issuer.realm_url, "--accounts-count", "3", "--today", "2026-11-23"
    )
    try:
        token = _token(oidc_issuer, "dwdi-client", "dwdi-secret")
        response = session.get(
            url + MONTH_PATH,
            params={"from": "2026-10", "to": "2026-10"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 200
        assert {entry["account"] for entry in response.json()["compute"]} <= {"g001", "g002", "g003"}
        assert session.get(url + "/sandbox/info", timeout=10).json()["auth"] == "jwt"
    finally:
        _stop(process)


def test_token_is_checked_while_faults_are_injected(
    dwdi_sandbox: DWDISandbox, oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    """A recorded fault still tells whether the client sent a good token (retry tests need it)."""
    token = _token(oidc_issuer, "dwdi-client", "dwdi-secret")
    dwdi_sandbox.fail_next(503)
    assert _get(session, dwdi_sandbox, token=token, **{"from": "2026-10", "to": "2026-10"}).status_code == 503
    recorded = dwdi_sandbox.requests[-1]
    assert (recorded.status, recorded.authorized, recorded.token_subject) == (503, True, "dwdi-client")


def test_the_sandbox_is_a_context_manager(dataset: DwdiDataset) -> None:
    with DWDISandbox(jwks_url=None, issuer=None, dataset=dataset) as sandbox:
        response = requests.get(sandbox.url + "/sandbox/info", timeout=10)
        assert json.loads(response.content)["url"] == sandbox.url
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.url + "/sandbox/info", timeout=2)


def test_stop_is_quick_with_a_client_waiting(open_sandbox: DWDISandbox) -> None:
    """A delayed request in flight does not block stop() (daemon handler threads)."""
    open_sandbox.delay_next(2.0)
    worker = threading.Thread(
        target=lambda: requests.get(
            open_sandbox.url + MONTH_PATH, params={"from": "2026-10", "to": "2026-10"}, timeout=5
        ),
        daemon=True,
    )
    worker.start()
    time.sleep(0.1)
    started = time.monotonic()
    open_sandbox.stop()
    assert time.monotonic() - started < 1.0
