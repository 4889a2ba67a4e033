"""The admin API of the DWDI double: not under ``/api``, no authentication, not recorded.

JSON in and out; errors answer 400 ``{"error": "..."}``. Bad values are named (``kind``: one of
``negative``, ``null``, ``nan_string``, ``nan_token``, ``text``) because JSON cannot carry a NaN.

    ``GET  /sandbox/info``            -> ``{"url", "today", "accounts", "clusters", "storage_paths",
                                         "resource_uuids", "unavailable_endpoints", "auth"}``
    ``GET  /sandbox/expected?month=YYYY-MM[&account=..][&cluster=..]`` -> compute totals as strings
    ``GET  /sandbox/expected-storage?month=YYYY-MM[&paths=..][&filesystem=..][&data_type=..]``
           -> ``{"levels": {path: {"spaceUsed", "inodesUsed"}}, "no_data": [...], "issues": {...}}``
    ``GET  /sandbox/expected-inference?from=YYYY-MM&to=YYYY-MM[&resource_uuid=..]``
           -> ``{"costs": {uuid: "12.5"}, "no_data": [...], "unknown": [...], "issues": {...}}``
    ``GET  /sandbox/requests``        -> ``{"requests": [...]}``; ``POST /sandbox/reset-requests``
    ``POST /sandbox/entries``         ``{"month", "entries": [...] | null}`` (compute)
    ``POST /sandbox/fail-next``       ``{"status", "count"?, "body"?: str, "headers"?}``
    ``POST /sandbox/reject-next-token`` ``{"count"?}``; ``POST /sandbox/delay-next`` ``{"seconds", "count"?}``
    ``POST /sandbox/endpoint-available`` ``{"family": "storage", "available": false}``
    ``POST /sandbox/storage/bad-value``  ``{"path", "field": "spaceUsed", "kind"}``
    ``POST /sandbox/storage/answer-twice`` ``{"path"}``
    ``POST /sandbox/inference/bad-cost`` ``{"resource_uuid", "kind"}``
    ``POST /sandbox/inference/unknown-resource`` ``{"resource_uuid", "total_cost"?: "1.5"}``
    ``POST /sandbox/clear-injections``  (storage and inference datasets)
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import date
from typing import Any, Protocol

from sandbox.dwdi.inference_data import InferenceDataset
from sandbox.dwdi.replies import Reply, decimal_strings, json_reply
from sandbox.dwdi.storage_data import StorageDataset
from sandbox.dwdi_data import DwdiDataset


class AdminTarget(Protocol):
    """What the admin API reads and changes: the DWDI double's datasets and switches.

    The server hands itself over; the handlers see only this, so they do not stand on the server.
    """

    @property
    def url(self) -> str: ...

    @property
    def today(self) -> date: ...

    @property
    def auth_mode(self) -> str: ...

    @property
    def dataset(self) -> DwdiDataset | None: ...

    @property
    def storage(self) -> StorageDataset | None: ...

    @property
    def inference(self) -> InferenceDataset | None: ...

    def unavailable_endpoints(self) -> list[str]: ...

    def recorded_requests(self) -> list[dict[str, Any]]: ...

    def expected_totals(
        self, month: str, accounts: Collection[str] | None = None, clusters: Collection[str] | None = None
    ) -> dict[str, dict[str, Any]]: ...

    def reset_requests(self) -> None: ...

    def set_entries(self, month: str, entries: list[dict[str, Any]] | None) -> None: ...

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        body: bytes = ...,
        content_type: str = ...,
        headers: dict[str, str] | None = None,
    ) -> None: ...

    def reject_next_token(self, count: int = 1) -> None: ...

    def delay_next(self, seconds: float, count: int = 1) -> None: ...

    def set_endpoint_available(self, family: str, available: bool) -> None: ...


def handle(
    sandbox: AdminTarget, method: str, path: str, query: dict[str, list[str]], raw_body: bytes
) -> Reply:
    """Answer one admin request; a bad one is 400 naming the problem."""
    try:
        body = json.loads(raw_body) if raw_body else {}
        return _route(sandbox, method, path, query, body)
    except (KeyError, ValueError, TypeError, RuntimeError) as error:
        return json_reply(400, {"error": f"{type(error).__name__}: {error}"})


def _storage(sandbox: AdminTarget) -> StorageDataset:
    if sandbox.storage is None:
        raise RuntimeError("this sandbox has no storage dataset")
    return sandbox.storage


def _inference(sandbox: AdminTarget) -> InferenceDataset:
    if sandbox.inference is None:
        raise RuntimeError("this sandbox has no inference dataset")
    return sandbox.inference


def _info(sandbox: AdminTarget) -> dict[str, Any]:
    return {
        "url": sandbox.url,
        "today": sandbox.today.isoformat(),
        "accounts": list(sandbox.dataset.accounts) if sandbox.dataset else [],
        "clusters": list(sandbox.dataset.clusters) if sandbox.dataset else [],
        "storage_paths": [item.path for item in sandbox.storage.paths] if sandbox.storage else [],
        "resource_uuids": list(sandbox.inference.resource_uuids) if sandbox.inference else [],
        "unavailable_endpoints": sandbox.unavailable_endpoints(),
        "auth": sandbox.auth_mode,
    }


def _expected_storage(sandbox: AdminTarget, query: dict[str, list[str]]) -> dict[str, Any]:
    storage = _storage(sandbox)
    arguments = (
        query["month"][-1],
        query.get("paths"),
        (query.get("filesystem") or [None])[-1],
        (query.get("data_type") or [None])[-1],
    )
    return {
        "levels": storage.expected_levels(*arguments),
        "no_data": storage.paths_without_data(*arguments),
        "issues": storage.expected_issues(*arguments),
    }


def _expected_inference(sandbox: AdminTarget, query: dict[str, list[str]]) -> dict[str, Any]:
    inference = _inference(sandbox)
    first, last, uuids = query["from"][-1], query["to"][-1], query.get("resource_uuid")
    return {
        "costs": inference.expected_costs(first, last, uuids),
        "no_data": inference.resources_without_data(first, last, uuids),
        "unknown": inference.expected_unknown(first, last),
        "issues": inference.expected_issues(first, last, uuids),
    }


def _route(sandbox: AdminTarget, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
    route = (method, path)
    if route == ("GET", "/sandbox/info"):
        return json_reply(200, _info(sandbox))
    if route == ("GET", "/sandbox/expected"):
        totals = sandbox.expected_totals(query["month"][-1], query.get("account"), query.get("cluster"))
        return json_reply(200, decimal_strings(totals))
    if route == ("GET", "/sandbox/expected-storage"):
        return json_reply(200, decimal_strings(_expected_storage(sandbox, query)))
    if route == ("GET", "/sandbox/expected-inference"):
        return json_reply(200, decimal_strings(_expected_inference(sandbox, query)))
    if route == ("GET", "/sandbox/requests"):
        return json_reply(200, {"requests": sandbox.recorded_requests()})
    if route == ("POST", "/sandbox/reset-requests"):
        sandbox.reset_requests()
    elif route == ("POST", "/sandbox/entries"):
        sandbox.set_entries(body["month"], body["entries"])
    elif route == ("POST", "/sandbox/fail-next"):
        sandbox.fail_next(
            int(body["status"]),
            count=int(body.get("count", 1)),
            body=str(body.get("body", '{"detail":"injected"}')).encode(),
            headers=body.get("headers"),
        )
    elif route == ("POST", "/sandbox/reject-next-token"):
        sandbox.reject_next_token(int(body.get("count", 1)))
    elif route == ("POST", "/sandbox/delay-next"):
        sandbox.delay_next(float(body["seconds"]), int(body.get("count", 1)))
    elif route == ("POST", "/sandbox/endpoint-available"):
        sandbox.set_endpoint_available(str(body["family"]), bool(body["available"]))
    elif route == ("POST", "/sandbox/storage/bad-value"):
        _storage(sandbox).set_bad_value(str(body["path"]), str(body["field"]), str(body["kind"]))
    elif route == ("POST", "/sandbox/storage/answer-twice"):
        _storage(sandbox).answer_twice(str(body["path"]))
    elif route == ("POST", "/sandbox/inference/bad-cost"):
        _inference(sandbox).set_bad_cost(str(body["resource_uuid"]), str(body["kind"]))
    elif route == ("POST", "/sandbox/inference/unknown-resource"):
        _inference(sandbox).add_unknown_resource(
            str(body["resource_uuid"]), str(body.get("total_cost", "1.5"))
        )
    elif route == ("POST", "/sandbox/clear-injections"):
        for dataset in (sandbox.storage, sandbox.inference):
            if dataset is not None:
                dataset.clear_injections()
    else:
        return json_reply(404, {"error": f"no admin endpoint {method} {path}"})
    return json_reply(200, {})
