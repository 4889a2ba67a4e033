"""The versioned aggregated-report JSON: the XCom between aggregation and push.

The shape is documented in ``docs/architecture.md`` ("Aggregated report"). It is built by
:meth:`core.usage.UsageAggregator.build_report`; :func:`validate_report` checks it again on the
push side, because an XCom can be edited or come from another version, and a wrong amount must
be caught before anything reaches Waldur.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.errors import ReportError

REPORT_SCHEMA_VERSION = 1
POLICIES: tuple[str, ...] = ("fail", "skip")

# [0-9], not \d: \d also matches non-ASCII digits that Waldur would not read.
_AMOUNT = re.compile(r"[0-9]+\.[0-9]{2}")
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def validate_report(doc: Any) -> None:
    """Check a report's shape, schema version and amounts.

    Every amount (account totals and user usages) must be a string with exactly two decimals and
    no sign, and name a declared component.

    :raises ReportError: naming the path of the first bad item, e.g.
        ``accounts.g207.users.alice.nodeHours: '-1.00' is not a non-negative amount with two decimals``.
    """
    if not isinstance(doc, Mapping):
        raise ReportError(f"report: expected an object, got {_kind(doc)}")
    version = doc.get("schema_version")
    if isinstance(version, bool) or version != REPORT_SCHEMA_VERSION:
        raise ReportError(f"schema_version: expected {REPORT_SCHEMA_VERSION}, got {version!r}")
    month = doc.get("month")
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise ReportError(f"month: expected YYYY-MM, got {month!r}")
    _check_window(doc)
    if "policy" in doc and doc["policy"] not in POLICIES:
        raise ReportError(f"policy: expected one of {', '.join(POLICIES)}, got {doc['policy']!r}")
    components = _check_components(doc.get("components"))
    accounts = _mapping(doc.get("accounts"), "accounts")
    for account, data in accounts.items():
        path = f"accounts.{_name(account, 'accounts')}"
        data = _mapping(data, path)
        _check_amounts(data.get("total"), f"{path}.total", components)
        users = _mapping(data.get("users"), f"{path}.users")
        for user, amounts in users.items():
            _check_amounts(amounts, f"{path}.users.{_name(user, f'{path}.users')}", components)
    _check_issues(doc.get("issues"))
    counts = _mapping(doc.get("counts"), "counts")
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ReportError(f"counts.{key}: expected a non-negative integer, got {value!r}")


def _check_window(doc: Mapping[str, Any]) -> None:
    window = doc.get("window")
    if window is None:
        return
    window = _mapping(window, "window")
    for key, value in window.items():
        if not isinstance(value, str):
            raise ReportError(f"window.{key}: expected a date string, got {value!r}")


def _check_components(raw: Any) -> frozenset[str]:
    components = _mapping(raw, "components")
    if not components:
        raise ReportError("components: expected at least one component")
    for name, settings in components.items():
        path = f"components.{_name(name, 'components')}"
        settings = _mapping(settings, path)
        if "unit_factor" in settings:
            factor = settings["unit_factor"]
            try:
                valid = isinstance(factor, str) and Decimal(factor).is_finite() and Decimal(factor) > 0
            except InvalidOperation:
                valid = False
            if not valid:
                raise ReportError(
                    f"{path}.unit_factor: expected a positive number as a string, got {factor!r}"
                )
    return frozenset(components)


def _check_amounts(raw: Any, path: str, components: frozenset[str]) -> None:
    amounts = _mapping(raw, path)
    for component, amount in amounts.items():
        if component not in components:
            raise ReportError(
                f"{path}.{component}: not a declared component (declared: {', '.join(sorted(components))})"
            )
        if not isinstance(amount, str) or not _AMOUNT.fullmatch(amount):
            raise ReportError(
                f"{path}.{component}: {amount!r} is not a non-negative amount with two decimals"
            )


def _check_issues(raw: Any) -> None:
    if not isinstance(raw, list):
        raise ReportError(f"issues: expected a list, got {_kind(raw)}")
    for index, issue in enumerate(raw):
        path = f"issues[{index}]"
        issue = _mapping(issue, path)
        for key in ("kind", "message"):
            if not isinstance(issue.get(key), str):
                raise ReportError(f"{path}.{key}: expected a string, got {issue.get(key)!r}")


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ReportError(f"{path}: expected an object, got {_kind(value)}")
    return value


def _name(key: Any, path: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ReportError(f"{path}: {key!r} is not a name")
    return key


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
