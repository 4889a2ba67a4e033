"""The versioned aggregated report: the XCom between aggregation and push. Built and checked here.

The shape is documented in ``docs/architecture.md`` ("Aggregated report"). :func:`build_report`
turns what ``core.usage.UsageAggregator`` summed into a :class:`UsageReport`, refusing a month
with bad values under the ``fail`` policy. :func:`validate_report` checks the JSON again on the
push side (:meth:`UsageReport.from_xcom`), because an XCom can be edited or come from another
version, and a wrong amount must be caught before anything reaches Waldur.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.errors import ReportError, UsageDataError
from airflow_provider_cscs_dwdi.core.issues import Issue, issues_from_json
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.months import parse_month
from airflow_provider_cscs_dwdi.core.usage import AccountUsage, AggregatedUsage, BadValuePolicy

REPORT_SCHEMA_VERSION = 1
POLICIES: tuple[str, ...] = tuple(policy.value for policy in BadValuePolicy)
#: Issues named in the message of a refused report.
ISSUES_IN_MESSAGE = 50
#: Names of ignored (not requested) accounts listed in the report.
IGNORED_ACCOUNTS_SAMPLE = 20

# [0-9], not \d: \d also matches non-ASCII digits that Waldur would not read.
_AMOUNT = re.compile(r"[0-9]+\.[0-9]{2}")
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_USAGE_KINDS = tuple(kind.value for kind in UsageKind)


@dataclass(frozen=True)
class UsageReport:
    """One month of usage, per account and per user, as it will be billed (the aggregate task's XCom).

    Amounts are strings with exactly two decimals, by component type. Every requested account is
    in ``accounts`` (zero when DWDI had no data); ``issues`` are the records left out under the
    ``skip`` policy.
    """

    month: str
    window: Mapping[str, str] | None  # {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}
    policy: str | None  # "fail" | "skip"; None only in a report written without it
    components: Mapping[str, Mapping[str, str]]  # type -> ComponentConfig.to_json()
    accounts: Mapping[str, AccountUsage]
    issues: tuple[Issue, ...]
    counts: Mapping[str, int]
    ignored_accounts_sample: tuple[str, ...] = ()
    schema_version: int = REPORT_SCHEMA_VERSION
    #: compute, storage or inference (``core.kinds.UsageKind``); only compute has ``users``.
    usage_kind: str = UsageKind.COMPUTE.value
    #: Requested accounts left unwritten because DWDI had no data for them (storage only).
    without_data: tuple[str, ...] = ()

    def to_xcom(self) -> dict[str, Any]:
        """The report as the JSON document of ``docs/architecture.md``."""
        doc: dict[str, Any] = {
            "schema_version": self.schema_version,
            "month": self.month,
            "usage_kind": self.usage_kind,
            "window": dict(self.window) if self.window is not None else None,
        }
        if self.policy is not None:
            doc["policy"] = self.policy
        doc.update(
            components={name: dict(settings) for name, settings in self.components.items()},
            accounts=dict(self.accounts),
            issues=[issue.to_json() for issue in self.issues],
            counts=dict(self.counts),
            ignored_accounts_sample=list(self.ignored_accounts_sample),
            without_data=list(self.without_data),
        )
        return doc

    @classmethod
    def from_xcom(cls, doc: Any) -> UsageReport:
        """Read a report from its JSON after checking it (:func:`validate_report`).

        :raises ReportError: naming the path of the first bad item.
        """
        validate_report(doc)
        return cls(
            month=doc["month"],
            window=doc.get("window"),
            policy=doc.get("policy"),
            components=doc["components"],
            accounts=doc["accounts"],
            issues=issues_from_json(doc["issues"], "issues"),
            counts=doc["counts"],
            ignored_accounts_sample=tuple(doc.get("ignored_accounts_sample", ())),
            schema_version=doc["schema_version"],
            usage_kind=doc.get("usage_kind", UsageKind.COMPUTE.value),
            without_data=tuple(doc.get("without_data", ())),
        )


def build_report(
    usage: AggregatedUsage, *, month: str, window: Mapping[str, str] | None = None
) -> UsageReport:
    """The report of a summed month (checked with :func:`validate_report` before it is returned).

    :param usage: ``UsageAggregator.result()``.
    :param month: the billing month ``YYYY-MM``.
    :param window: the days the month's data covers (``core.months.month_window``).
    :raises UsageDataError: with policy ``fail`` when any issue was found (``.issues`` holds
        them, the message names the first 50).
    :raises ConfigurationError: ``month`` is not a month.
    """
    month = parse_month(month)
    if usage.issue_count and usage.policy is BadValuePolicy.FAIL:
        raise UsageDataError(_refusal_message(month, usage.issues, usage.issue_count), list(usage.issues))
    accounts = usage.accounts
    report = UsageReport(
        month=month,
        window=dict(window) if window is not None else None,
        policy=usage.policy.value,
        components={component.type: component.to_json() for component in usage.components},
        accounts=accounts,
        issues=usage.issues,
        counts={
            "pages": usage.pages,
            "entries": usage.entries,
            "entries_filtered": usage.entries_filtered,
            "user_rows": usage.user_rows,
            "accounts_reported": len(accounts),
            "accounts_without_data": len(accounts) - usage.accounts_with_data + len(usage.without_data),
            "accounts_ignored": len(usage.ignored_accounts),
            "rows_skipped": usage.rows_skipped,
            "issues": usage.issue_count,
        },
        ignored_accounts_sample=usage.ignored_accounts[:IGNORED_ACCOUNTS_SAMPLE],
        usage_kind=usage.usage_kind,
        without_data=usage.without_data,
    )
    validate_report(report.to_xcom())
    return report


def _refusal_message(month: str, issues: Sequence[Issue], issue_count: int) -> str:
    lines = [f"{issue_count} issue(s) in the DWDI data for {month}; nothing can be billed:"]
    lines += [f"  {issue.message}" for issue in issues[:ISSUES_IN_MESSAGE]]
    more = issue_count - min(len(issues), ISSUES_IN_MESSAGE)
    if more > 0:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines)


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
    usage_kind = doc.get("usage_kind", UsageKind.COMPUTE.value)
    if usage_kind not in _USAGE_KINDS:
        raise ReportError(f"usage_kind: expected one of {', '.join(_USAGE_KINDS)}, got {usage_kind!r}")
    if "policy" in doc and doc["policy"] not in POLICIES:
        raise ReportError(f"policy: expected one of {', '.join(POLICIES)}, got {doc['policy']!r}")
    components = _check_components(doc.get("components"))
    accounts = _mapping(doc.get("accounts"), "accounts")
    for account, data in accounts.items():
        path = f"accounts.{_name(account, 'accounts')}"
        data = _mapping(data, path)
        _check_amounts(data.get("total"), f"{path}.total", components)
        users = _mapping(data.get("users"), f"{path}.users")
        if users and not UsageKind(usage_kind).has_users:
            raise ReportError(
                f"{path}.users: {usage_kind} usage has no per-user breakdown, got {len(users)} user(s)"
            )
        for user, amounts in users.items():
            _check_amounts(amounts, f"{path}.users.{_name(user, f'{path}.users')}", components)
    issues_from_json(doc.get("issues"), "issues")
    counts = _mapping(doc.get("counts"), "counts")
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ReportError(f"counts.{key}: expected a non-negative integer, got {value!r}")
    for key in ("ignored_accounts_sample", "without_data"):
        names = doc.get(key, [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ReportError(f"{key}: expected a list of account names, got {names!r}")
    overlap = sorted(set(doc.get("without_data", [])).intersection(accounts))
    if overlap:
        raise ReportError(
            f"without_data: {overlap[0]!r} is also in accounts; an account has data or has none"
        )


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
