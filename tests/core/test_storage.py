"""Storage levels: one value per path and month, exact units, and nothing billed that was not measured."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, ReportError
from airflow_provider_cscs_dwdi.core.issues import UsageDataError
from airflow_provider_cscs_dwdi.core.report import UsageReport, build_report, validate_report
from airflow_provider_cscs_dwdi.core.storage import StorageAggregator
from airflow_provider_cscs_dwdi.core.usage import BadValuePolicy
from tests.core.usage_support import dwdi

SPACE_AND_INODES = {
    "storage_space": {"measured_unit": "TB", "unit_factor": "1e-12", "dwdi_field": "spaceUsed"},
    "storage_inodes": {
        "measured_unit": "million inodes",
        "unit_factor": 0.000001,
        "dwdi_field": "inodesUsed",
    },
}
PATHS = {"g1": "/capstor/store/cscs/g1", "g2": "/capstor/store/cscs/g2", "g3": "/capstor/store/cscs/g3"}


def storage(policy: str = "fail", paths: dict[str, str] = PATHS) -> StorageAggregator:
    return StorageAggregator(
        parse_backend_components(SPACE_AND_INODES), paths=paths, policy=BadValuePolicy(policy)
    )


def record(path: str, space: Any = 0, inodes: Any = 0) -> str:
    return f'{{"path": "{path}", "spaceUsed": {space}, "inodesUsed": {inodes}}}'


def body(*records: str) -> Any:
    return dwdi('{"storage": [' + ", ".join(records) + "]}")


def report(agg: StorageAggregator) -> UsageReport:
    return build_report(agg.result(), month="2026-10", window={"from": "2026-10-01", "to": "2026-10-31"})


@pytest.mark.parametrize(
    ("space", "billed"),
    [
        (999_999_999_999, "1.00"),  # one byte short of a TB rounds up, exactly
        (4_999_999_999, "0.00"),  # just under half a cent of a TB
        (5_000_000_000, "0.01"),  # exactly half a cent: half up
        (1_234_567_890_123_456, "1234.57"),
        (0, "0.00"),
    ],
)
def test_bytes_become_terabytes_exactly_rounded_half_up_once(space: int, billed: str) -> None:
    agg = storage(paths={"g1": PATHS["g1"]})
    agg.add_response(body(record(PATHS["g1"], space, 2_500_000)), source="page 1")

    assert report(agg).accounts["g1"]["total"] == {"storage_space": billed, "storage_inodes": "2.50"}


def test_storage_is_a_level_without_users_and_the_report_says_its_kind() -> None:
    agg = storage()
    agg.add_response(body(record(PATHS["g1"], 10**12, 1_000_000)), source="page 1")
    agg.add_response(body(record(PATHS["g2"], 2 * 10**12, 3_000_000)), source="page 2")

    doc = report(agg)

    assert doc.usage_kind == "storage"
    assert doc.accounts == {
        "g1": {"total": {"storage_space": "1.00", "storage_inodes": "1.00"}, "users": {}},
        "g2": {"total": {"storage_space": "2.00", "storage_inodes": "3.00"}, "users": {}},
    }
    validate_report(doc.to_xcom())


def test_a_path_dwdi_does_not_return_gets_no_write_and_is_listed() -> None:
    agg = storage()
    agg.add_response(body(record(PATHS["g1"], 10**12, 1)), source="page 1")

    doc = report(agg)

    assert sorted(doc.accounts) == ["g1"]  # no zero claiming that g2's and g3's data vanished
    assert doc.without_data == ("g2", "g3")
    assert doc.counts["accounts_without_data"] == 2
    assert doc.to_xcom()["without_data"] == ["g2", "g3"]


def test_a_path_answered_twice_is_never_summed_and_refuses_the_month_under_fail() -> None:
    agg = storage()
    agg.add_response(body(record(PATHS["g1"], 10**12, 1)), source="page 1")
    agg.add_response(body(record(PATHS["g1"], 10**12, 1)), source="page 2")

    with pytest.raises(UsageDataError) as refused:
        report(agg)

    assert "page 2, storage[0]: path '/capstor/store/cscs/g1' is answered twice" in str(refused.value)
    assert "(first at page 1, storage[0])" in str(refused.value)
    assert [issue.kind for issue in refused.value.issues] == ["duplicate_path"]


def test_a_path_answered_twice_is_left_out_under_skip() -> None:
    agg = storage("skip")
    agg.add_response(body(record(PATHS["g1"], 10**12, 1), record(PATHS["g2"], 10**12, 1)), source="page 1")
    agg.add_response(body(record(PATHS["g1"], 3 * 10**12, 1)), source="page 2")

    doc = report(agg)

    assert sorted(doc.accounts) == ["g2"]
    assert doc.without_data == ("g3",)  # g1 had data: it is an issue, not "no data"
    assert [(issue.kind, issue.account) for issue in doc.issues] == [("duplicate_path", "g1")]
    assert doc.issues[0].message.endswith("; the resource is not written this month.")
    assert doc.counts["rows_skipped"] == 1


BAD_VALUES = {
    "negative": ("-1", "negative_value"),
    "null": ("null", "null_value"),
    "NaN": ("NaN", "not_a_number"),
    "non-numeric string": ('"12"', "non_numeric"),
    "boolean": ("true", "non_numeric"),
}


@pytest.mark.parametrize(("value", "kind"), list(BAD_VALUES.values()), ids=list(BAD_VALUES))
@pytest.mark.parametrize("field", ["spaceUsed", "inodesUsed"])
def test_a_bad_value_refuses_the_month_under_fail_naming_record_and_field(
    value: str, kind: str, field: str
) -> None:
    space, inodes = (value, 1) if field == "spaceUsed" else (1, value)
    agg = storage()
    agg.add_response(
        body(record(PATHS["g1"], 10**12, 1), record(PATHS["g2"], space, inodes)), source="page 3"
    )

    with pytest.raises(UsageDataError) as refused:
        report(agg)

    issue = refused.value.issues[0]
    assert (issue.kind, issue.record, issue.account, issue.field) == (kind, "page 3, storage[1]", "g2", field)
    assert f"page 3, storage[1]: {field} of account 'g2'" in str(refused.value)


@pytest.mark.parametrize(("value", "kind"), list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_a_bad_value_leaves_the_whole_resource_out_under_skip(value: str, kind: str) -> None:
    agg = storage("skip")
    agg.add_response(body(record(PATHS["g1"], 10**12, 1), record(PATHS["g2"], 10**12, value)), source="p")

    doc = report(agg)

    assert sorted(doc.accounts) == ["g1"]  # never a zero, never space without inodes
    assert [(issue.kind, issue.account, issue.field) for issue in doc.issues] == [(kind, "g2", "inodesUsed")]
    assert "g2" not in doc.without_data


def test_a_missing_field_is_an_issue_not_a_zero() -> None:
    agg = storage("skip")
    agg.add_response(dwdi(f'{{"storage": [{{"path": "{PATHS["g1"]}", "spaceUsed": 5}}]}}'), source="p")

    doc = report(agg)

    assert doc.accounts == {}
    assert [(issue.kind, issue.field) for issue in doc.issues] == [("missing_value", "inodesUsed")]


def test_paths_nobody_requested_are_counted_and_never_billed() -> None:
    agg = storage(paths={"g1": PATHS["g1"]})
    agg.add_response(
        body(record(PATHS["g1"], 1, 1), record("/capstor/store/cscs/other", 10**15, 1)), source="p"
    )

    doc = report(agg)

    assert sorted(doc.accounts) == ["g1"]
    assert doc.counts["accounts_ignored"] == 1
    assert doc.ignored_accounts_sample == ("/capstor/store/cscs/other",)


@pytest.mark.parametrize(
    "text",
    [
        '{"compute": []}',
        '{"storage": {"path": "/x"}}',
        '{"storage": ["not a record"]}',
        '{"storage": [{"spaceUsed": 1, "inodesUsed": 1}]}',
        '{"storage": [{"path": "", "spaceUsed": 1, "inodesUsed": 1}]}',
    ],
    ids=["no storage list", "not a list", "record not an object", "no path", "blank path"],
)
def test_a_malformed_answer_is_an_issue_not_silence(text: str) -> None:
    agg = storage()
    agg.add_response(dwdi(text), source="page 1")

    with pytest.raises(UsageDataError, match="page 1"):
        report(agg)


def test_two_resources_on_one_path_are_refused_before_anything_is_read() -> None:
    with pytest.raises(ConfigurationError, match="'g1' and 'g2' both resolve to path '/same'"):
        storage(paths={"g1": "/same", "g2": "/same"})


def test_a_storage_report_with_users_is_refused_by_the_push_side_check() -> None:
    agg = storage(paths={"g1": PATHS["g1"]})
    agg.add_response(body(record(PATHS["g1"], 1, 1)), source="p")
    doc = report(agg).to_xcom()
    doc["accounts"]["g1"]["users"] = {"alice": {"storage_space": "1.00"}}

    with pytest.raises(ReportError, match=r"accounts\.g1\.users: storage usage has no per-user breakdown"):
        validate_report(doc)
