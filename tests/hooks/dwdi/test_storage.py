"""DWDIHook storage usage against the real OIDC issuer and the DWDI double over loopback: one
token for many split pages, raw pages for the archive, the 404 of an older DWDI, bad answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.hooks.dwdi import (
    MAX_URL_BYTES,
    DWDIAPIError,
    DWDIResponseError,
    count_storage_entries,
)
from sandbox.dwdi_server import StorageDataset, StoragePath
from tests.hooks.dwdi.helpers import CLIENT, DEFAULT_PATHS, INSTANT_RETRIES, MONTH, SECRET, HookFactory

MakeSandbox = Callable[..., Any]
MISSING = "this DWDI release has no storage API at /api/v1/storage/usage-month: set storage_usage_path"


def _levels(entries: list[dict[str, Any]]) -> dict[str, dict[str, Decimal]]:
    return {
        e["path"]: {"spaceUsed": Decimal(e["spaceUsed"]), "inodesUsed": Decimal(e["inodesUsed"])}
        for e in entries
    }


def test_ten_thousand_paths_one_token_every_url_within_8_kib_every_path_once(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    # Long and non-ASCII paths make the encoded length differ from the raw one.
    paths = [f"/capstor/store/cscs/userlab/project-{n:05d}" for n in range(9_998)]
    paths += ["/capstor/store/ä ß&=?/" + "x" * 200, "/capstor/store/" + "é" * 300]
    storage = StorageDataset(paths=paths)
    sandbox = make_sandbox(storage=storage, max_url_bytes=MAX_URL_BYTES)
    hook = make_hook(sandbox.url)

    result = hook.get_storage_usage(MONTH, paths, "capstor", "store")

    recorded = sandbox.requests
    assert len(recorded) > 2
    assert all(r.status == 200 and r.authorized and r.token_subject == CLIENT for r in recorded)
    assert max(r.url_length for r in recorded) <= MAX_URL_BYTES
    assert [p for r in recorded for p in r.query["paths"]] == paths  # each once, in order
    assert {
        (r.query["exact-month"][0], r.query["filesystem"][0], r.query["data_type"][0]) for r in recorded
    } == {(MONTH, "capstor", "store")}
    assert issuer.token_count(CLIENT) == 1
    assert _levels(result["storage"]) == storage.expected_levels(MONTH, paths) != {}
    returned = {e["path"] for e in result["storage"]}
    assert not returned & set(storage.paths_without_data(MONTH, paths))


def test_the_double_refuses_unsplit_path_lists(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    # The control for the test above: without the split, the server's URL limit bites.
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url, hook_kwargs={"max_url_bytes": 10 * MAX_URL_BYTES})
    with pytest.raises(DWDIAPIError, match="answered 414"):
        hook.get_storage_usage(MONTH, [f"/capstor/store/p{n:05d}" for n in range(1_000)])


def test_filters_and_repeated_paths(make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any) -> None:
    storage = StorageDataset(
        paths=[
            "/capstor/store/a",
            StoragePath("/iopsstor/scratch/b", "iopsstor", "scratch"),
            "/capstor/store/c",
        ]
    )
    sandbox = make_sandbox(storage=storage)
    hook = make_hook(sandbox.url)

    scratch = hook.get_storage_usage(
        MONTH, ["/iopsstor/scratch/b", "/capstor/store/a"], "iopsstor", "scratch"
    )
    everything = hook.get_storage_usage(MONTH, None)

    assert [e["path"] for e in scratch["storage"]] == ["/iopsstor/scratch/b"]
    assert {e["path"] for e in everything["storage"]} == {
        "/capstor/store/a",
        "/iopsstor/scratch/b",
        "/capstor/store/c",
    }
    first, second = sandbox.requests
    assert "paths" not in second.query
    assert "filesystem" not in second.query
    assert first.query["paths"] == ["/iopsstor/scratch/b", "/capstor/store/a"]
    assert hook.get_storage_usage(MONTH, ["/capstor/store/a", " /capstor/store/a"]) is not None
    assert sandbox.requests[-1].query["paths"] == ["/capstor/store/a"]  # asked once


def test_an_empty_path_list_makes_no_request(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    assert make_hook(sandbox.url).get_storage_usage(MONTH, []) == {"storage": []}
    assert sandbox.requests == []
    assert issuer.token_count() == 0


def test_unparsed_pages_carry_raw_bytes_and_exact_entry_counts(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    pages = list(make_hook(sandbox.url).iter_storage_usage(MONTH, DEFAULT_PATHS, parse=False))

    assert [(p.index, p.keys, p.status, p.data) for p in pages] == [(0, DEFAULT_PATHS, 200, None)]
    parsed = json.loads(pages[0].raw)
    assert (
        count_storage_entries(pages[0].raw) == len(parsed["storage"]) == len(DEFAULT_PATHS) - 2
    )  # 2 without data
    assert count_storage_entries(b'{"storage":[{"path" : "/a \\"path\\": b"}]}') == 1


@pytest.mark.parametrize(
    ("extras", "path"),
    [({}, "/api/v1/storage/usage-month"), ({"storage_usage_path": "api/v2/storage"}, "/api/v2/storage")],
)
def test_a_404_names_the_path_and_the_extra_to_set(
    make_sandbox: MakeSandbox,
    make_hook: HookFactory,
    issuer: Any,
    sleeps: list[float],
    extras: dict[str, str],
    path: str,
) -> None:
    sandbox = make_sandbox(unavailable_endpoints=["storage"])
    with pytest.raises(DWDIAPIError) as raised:
        make_hook(sandbox.url, **extras).get_storage_usage(MONTH, ["/capstor/store/cscs/p001"])
    assert f"this DWDI release has no storage API at {path}: set storage_usage_path" in str(raised.value)
    assert raised.value.status == 404
    assert [(r.path, r.status) for r in sandbox.requests] == [(path, 404)]  # not retried
    assert sleeps == []


def test_the_compute_api_still_works_when_storage_is_missing(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox(unavailable_endpoints=["storage"])
    hook = make_hook(sandbox.url)
    ok, message = hook.test_connection()  # checks compute only
    assert ok, message
    with pytest.raises(DWDIAPIError, match=MISSING):
        hook.get_storage_usage(MONTH, None)


def test_a_body_that_is_not_json_is_reported_without_secrets(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url)
    token = hook.get_token()
    sandbox.set_raw_response(f"<html>login {token} {SECRET}</html>".encode(), "text/html")
    with pytest.raises(DWDIResponseError) as raised:
        hook.get_storage_usage(MONTH, DEFAULT_PATHS)
    message = str(raised.value)
    assert "DWDI storage usage" in message
    assert "is not JSON" in message
    assert "text/html" in message
    assert token not in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("body", "content_type", "parse", "problem"),
    [
        (b'{"compute": []}', "application/json", True, 'is not the documented {"storage": [...]} object'),
        (b'{"storage": {}}', "application/json", True, "documented"),
        (b"<html></html>", "text/html", False, "is not a JSON object"),
        (b'{"compute": []}', "application/json", False, "documented"),
    ],
)
def test_answers_without_the_storage_list_are_refused(
    make_sandbox: MakeSandbox,
    make_hook: HookFactory,
    issuer: Any,
    body: bytes,
    content_type: str,
    parse: bool,
    problem: str,
) -> None:
    sandbox = make_sandbox()
    sandbox.set_raw_response(body, content_type)
    with pytest.raises(DWDIResponseError, match=problem.replace("[", r"\[").replace("{", r"\{")):
        list(make_hook(sandbox.url).iter_storage_usage(MONTH, DEFAULT_PATHS, parse=parse))


def test_a_503_is_retried_and_a_401_renews_the_token(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any, sleeps: list[float]
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url)
    sandbox.fail_next(503)
    hook.get_storage_usage(MONTH, DEFAULT_PATHS)
    sandbox.reject_next_token()
    hook.get_storage_usage(MONTH, DEFAULT_PATHS)
    assert [r.status for r in sandbox.requests] == [503, 200, 401, 200]
    assert len(sleeps) == 1
    assert issuer.token_count(CLIENT) == 2
    sandbox.fail_next(503, count=INSTANT_RETRIES.max_attempts)
    with pytest.raises(DWDIAPIError, match="DWDI API answered 503"):
        hook.get_storage_usage(MONTH, DEFAULT_PATHS)


def test_bad_values_and_repeated_paths_reach_the_caller_as_sent(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    """Judging values is the core's job: the hook neither drops nor alters them."""
    storage = StorageDataset(paths=DEFAULT_PATHS)
    sandbox = make_sandbox(storage=storage)
    kinds = {"negative": -5, "null": None, "nan_string": "NaN", "text": "12 TB"}
    with_data = [p for p in DEFAULT_PATHS if storage.has_data(p)]
    for path, kind in zip(with_data, kinds, strict=False):
        storage.set_bad_value(path, "spaceUsed", kind)
    storage.set_bad_value(with_data[4], "inodesUsed", "nan_token")
    storage.answer_twice(with_data[5])

    served = make_hook(sandbox.url).get_storage_usage(MONTH, DEFAULT_PATHS)["storage"]

    by_path: dict[str, list[dict[str, Any]]] = {}
    for item in served:
        by_path.setdefault(item["path"], []).append(item)
    for path, value in zip(with_data, kinds.values(), strict=False):
        assert by_path[path][0]["spaceUsed"] == value
    nan = by_path[with_data[4]][0]["inodesUsed"]
    assert nan != nan  # a bare NaN token parses to a float NaN
    assert len(by_path[with_data[5]]) == 2
