"""The versioned aggregated report: the XCom between aggregation and push. Built and checked here.

The shape is documented in ``docs/architecture.md`` ("Aggregated report"). :func:`build_report`
turns what ``core.usage.UsageAggregator`` summed into a :class:`UsageReport`, refusing a month
with bad values under the ``fail`` policy. :func:`validate_report` checks the JSON again on the
push side (:meth:`UsageReport.from_xcom`), because an XCom can be edited or come from another
version, and a wrong amount must be caught before anything reaches Waldur. The JSON's shape is
declared as the pydantic model :class:`ReportDocument`; :class:`UsageReport` itself is a plain
dataclass that checks nothing when built, so the write plan's own checks can be tested with
reports the validation would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

# Pydantic reads typing.TypedDict only from Python 3.12; typing_extensions is pydantic's own
# dependency. A TypedDict, not a model, for the 10,000 accounts of a report: three times faster.
from typing_extensions import TypedDict

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, ReportError
from airflow_provider_cscs_dwdi.core.issues import Issue, UsageDataError, issues_from_json
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.months import Month, parse_month
from airflow_provider_cscs_dwdi.core.usage import AccountUsage, AggregatedUsage, BadValuePolicy
from airflow_provider_cscs_dwdi.core.validation import Refusal, Wording, explain, invalid, kind_of

REPORT_SCHEMA_VERSION = 1
POLICIES: tuple[str, ...] = tuple(policy.value for policy in BadValuePolicy)
#: Issues named in the message of a refused report.
ISSUES_IN_MESSAGE = 50
#: Names of ignored (not requested) accounts listed in the report.
IGNORED_ACCOUNTS_SAMPLE = 20

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
    """Check a report's shape, schema version and amounts (:class:`ReportDocument`).

    Every amount (account totals and user usages) must be a string with exactly two decimals and
    no sign, and name a declared component.

    :raises ReportError: naming the path of the first bad item, e.g.
        ``accounts.g207.users.alice.nodeHours: '-1.00' is not a non-negative amount with two decimals``.
    """
    if not isinstance(doc, Mapping):
        raise ReportError(f"report: expected an object, got {kind_of(doc)}")
    try:
        ReportDocument.model_validate(doc)
    except ValidationError as error:
        raise ReportError(explain(error, ReportDocument, first_index=0, wording=_WORDING)) from None


def _schema_version(value: Any) -> int:
    if isinstance(value, bool) or value != REPORT_SCHEMA_VERSION:
        raise invalid(f"expected {REPORT_SCHEMA_VERSION}, got {value!r}")
    return REPORT_SCHEMA_VERSION


def _month(value: Any) -> str:
    # Exactly as written: a report's month is the one spelling Month gives it.
    try:
        canonical = str(Month.parse(value)) if isinstance(value, str) else None
    except ConfigurationError:
        canonical = None
    if canonical is None or canonical != value:
        raise invalid(f"expected YYYY-MM, got {value!r}")
    return canonical


def _date_text(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"expected a date string, got {value!r}")
    return value


def _usage_kind(value: Any) -> str:
    if value not in _USAGE_KINDS:
        raise invalid(f"expected one of {', '.join(_USAGE_KINDS)}, got {value!r}")
    return str(value)


def _policy(value: Any) -> str:
    if value not in POLICIES:
        raise invalid(f"expected one of {', '.join(POLICIES)}, got {value!r}")
    return str(value)


def _unit_factor(value: Any) -> str:
    try:
        valid = isinstance(value, str) and Decimal(value).is_finite() and Decimal(value) > 0
    except InvalidOperation:
        valid = False
    if not valid:
        raise invalid(f"expected a positive number as a string, got {value!r}")
    return str(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid(f"expected a non-negative integer, got {value!r}")
    return value


def _account_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise invalid(f"expected a list of account names, got {value!r}")
    return value


def _issues(value: Any) -> Any:
    """Issues read themselves (``core.issues``); their ReportError passes through pydantic as it is."""
    issues_from_json(value, "issues")
    return value


#: An account, user or component name: not blank. Declared, not a Python validator: the report of
#: 10,000 accounts x 20 users has 210,000 names, checked in pydantic's core.
Name = Annotated[str, Field(strict=True, pattern=r"\S"), Refusal(lambda name: f"{name!r} is not a name")]
#: A billed amount: digits, a point and two digits ([0-9]: \d also matches non-ASCII digits).
Amount = Annotated[
    str,
    Field(strict=True, pattern=r"^[0-9]+\.[0-9]{2}$"),
    Refusal(lambda amount: f"{amount!r} is not a non-negative amount with two decimals"),
]
Amounts = dict[str, Amount]  # the components are checked against the declared ones


class ComponentDocument(BaseModel):
    """A component as the report describes it (``ComponentConfig.to_json()``); other keys pass."""

    model_config = ConfigDict(extra="ignore")

    # Absent, it is not checked; present (null included), it must be a positive number.
    unit_factor: Annotated[str | None, BeforeValidator(_unit_factor)] = None


class AccountDocument(TypedDict):
    """One account's amounts: in total, and per user (compute only)."""

    total: Amounts
    users: dict[Name, Amounts]


def _components(value: Any) -> Any:
    if isinstance(value, Mapping) and not value:
        raise invalid("expected at least one component")
    return value


class ReportDocument(BaseModel):
    """The report's JSON as the push reads it (``docs/architecture.md``, "Aggregated report").

    Only checks: :meth:`UsageReport.from_xcom` builds the report from the checked JSON. Unknown
    keys are ignored, as a newer aggregate task may add one.
    """

    model_config = ConfigDict(extra="ignore")

    # A default of None that is validated: a missing key reads "got None", as it always did.
    schema_version: Annotated[int, BeforeValidator(_schema_version)] = Field(
        default=None, validate_default=True
    )
    month: Annotated[str, BeforeValidator(_month)] = Field(default=None, validate_default=True)
    window: dict[str, Annotated[str, BeforeValidator(_date_text)]] | None = None
    usage_kind: Annotated[str, BeforeValidator(_usage_kind)] = UsageKind.COMPUTE.value
    # Absent means "written without it"; present, it must be a policy (null included).
    policy: Annotated[str | None, BeforeValidator(_policy)] = None
    components: Annotated[dict[Name, ComponentDocument], BeforeValidator(_components)] = Field(
        default=None, validate_default=True
    )
    accounts: dict[Name, AccountDocument] = Field(default=None, validate_default=True)
    issues: Annotated[list[Any], BeforeValidator(_issues)] = Field(default=None, validate_default=True)
    counts: dict[str, Annotated[int, BeforeValidator(_count)]] = Field(default=None, validate_default=True)
    ignored_accounts_sample: Annotated[list[str], BeforeValidator(_account_names)] = []
    without_data: Annotated[list[str], BeforeValidator(_account_names)] = []

    @model_validator(mode="after")
    def _consistent(self) -> ReportDocument:
        """Amounts of declared components only; users for compute only; no account twice."""
        declared = frozenset(self.components)
        has_users = UsageKind(self.usage_kind).has_users
        for account, data in self.accounts.items():
            path = f"accounts.{account}"
            _check_declared(data["total"], f"{path}.total", declared)
            users = data["users"]
            if users and not has_users:
                raise invalid(
                    f"{path}.users: {self.usage_kind} usage has no per-user breakdown, got {len(users)} user(s)"
                )
            for user, amounts in users.items():
                if not amounts.keys() <= declared:
                    _check_declared(amounts, f"{path}.users.{user}", declared)
        overlap = sorted(set(self.without_data).intersection(self.accounts))
        if overlap:
            raise invalid(
                f"without_data: {overlap[0]!r} is also in accounts; an account has data or has none"
            )
        return self


def _check_declared(amounts: Mapping[str, str], path: str, declared: frozenset[str]) -> None:
    for component in amounts:
        if component not in declared:
            raise invalid(
                f"{path}.{component}: not a declared component (declared: {', '.join(sorted(declared))})"
            )


#: What the report's own validators leave to pydantic is its objects: ``counts: expected an
#: object, got list``; its names and amounts say what they are (their :class:`Refusal`).
_WORDING = Wording(
    missing=lambda place, _annotation: f"{place}: expected an object, got nothing",
    refused=lambda details, _annotation: f"expected an object, got {kind_of(details.get('input'))}",
)
