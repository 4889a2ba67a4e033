"""Aggregate DWDI compute-usage responses into exact per-account and per-user totals.

:class:`UsageAggregator` takes one parsed DWDI response page at a time (``add_response``) and
keeps only running sums per account, component and user, so months of millions of user rows
aggregate in bounded memory. ``build_report`` turns the sums into the versioned report of
``docs/architecture.md``.

Rules (see ``docs/architecture.md`` and the DWDI reference):
    * Every quantity is a ``Decimal``; sums run in a 50-digit local context so nothing rounds
      while summing; the sum is multiplied by ``unit_factor`` and rounded half up to cents once.
    * An account total comes from ``total<Field>`` (preferred) or ``account<Field>``, else it is
      the sum of the entry's users. The same account in several entries (clusters, months) is
      summed, never overwritten; the same user in several rows is summed.
    * Bad values (null, negative, NaN/Infinity, strings, booleans) never become zero. Each one is a
      :class:`UsageIssue`. With :attr:`BadValuePolicy.FAIL` the report is refused listing every
      issue; with :attr:`BadValuePolicy.SKIP` a bad user row is left out (all its components), a
      bad account total falls back to the sum of the entry's good users, and the issues are
      listed in the report.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, localcontext
from enum import StrEnum
from typing import Any

from airflow_provider_cscs_dwdi.core.components import ComponentConfig, account_total_fields
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, UsageDataError
from airflow_provider_cscs_dwdi.core.months import parse_month
from airflow_provider_cscs_dwdi.core.report import REPORT_SCHEMA_VERSION, validate_report

#: Significant digits while summing: far above any DWDI value, so sums stay exact.
SUM_PRECISION = 50
#: Issues kept in detail; beyond this only their number is kept (a DWDI format change could
#: make every one of millions of rows an issue, and the report must not grow without bound).
MAX_ISSUES_KEPT = 10_000
#: Issues named in the message of a refused report.
ISSUES_IN_MESSAGE = 50
#: Names of ignored (not requested) accounts listed in the report.
IGNORED_ACCOUNTS_SAMPLE = 20
#: Characters of an offending value shown in an issue.
VALUE_SHOWN_CHARS = 80

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_MISSING: Any = object()
_INFINITY = math.inf


class BadValuePolicy(StrEnum):
    """What bad DWDI values do: refuse the whole report, or leave the bad records out."""

    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class UsageIssue:
    """One DWDI record that could not be billed as it is."""

    kind: str  # "null_value" | "negative_value" | "not_a_number" | "non_numeric" |
    # "missing_account" | "missing_username" | "missing_cluster" | "malformed_entry" |
    # "users_exceed_total"
    record: str  # where: "page 2, compute[13].users[4]"
    account: str | None
    user: str | None
    field: str | None
    value: str | None  # the offending JSON value, truncated to 80 chars
    message: str  # one readable sentence naming all of the above

    def to_json(self) -> dict[str, str | None]:
        """The issue as a JSON object (for the report and the log)."""
        return {
            "kind": self.kind,
            "record": self.record,
            "account": self.account,
            "user": self.user,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }


class _AccountSums:
    """Running raw (DWDI-unit) sums of one account, one slot per component."""

    __slots__ = ("explicit_totals", "explicit_users", "has_explicit", "totals", "users")

    def __init__(self, size: int) -> None:
        self.totals: list[Decimal] = [_ZERO] * size
        # Sums of the entries whose total came from an explicit total field, to check that the
        # users of those entries do not add up to more than DWDI's own total.
        self.explicit_totals: list[Decimal] = [_ZERO] * size
        self.explicit_users: list[Decimal] = [_ZERO] * size
        self.has_explicit: list[bool] = [False] * size
        self.users: list[dict[str, Decimal]] = [{} for _ in range(size)]


class UsageAggregator:
    """Streams DWDI compute responses into exact per-account and per-user sums.

    :param components: the offering's components (``parse_backend_components``).
    :param requested_accounts: the accounts to report (each appears, zero when DWDI has no data);
        entries of other accounts are counted and ignored. ``None`` reports every account seen.
    :param clusters: keep only entries of these clusters (case-insensitive); ``None`` keeps all.
    :param policy: what bad values do, see :class:`BadValuePolicy`.
    """

    def __init__(
        self,
        components: Sequence[ComponentConfig],
        *,
        requested_accounts: Collection[str] | None = None,
        clusters: Collection[str] | None = None,
        policy: BadValuePolicy = BadValuePolicy.FAIL,
    ) -> None:
        self.components = tuple(components)
        if not self.components:
            raise ConfigurationError("at least one component is needed to aggregate usage")
        self.policy = BadValuePolicy(policy)
        self.requested = None if requested_accounts is None else frozenset(map(str, requested_accounts))
        self.clusters = None if clusters is None else frozenset(str(c).lower() for c in clusters)
        self._fields = tuple(component.dwdi_field for component in self.components)
        self._total_fields = tuple(account_total_fields(field) for field in self._fields)
        self._context = Context(prec=SUM_PRECISION, rounding=ROUND_HALF_UP)
        self._inexact = False
        self._accounts: dict[str, _AccountSums] = {}
        self._ignored: set[str] = set()
        self._issues: list[UsageIssue] = []
        self._issue_count = 0
        self._pages = 0
        self._entries = 0
        self._entries_filtered = 0
        self._user_rows = 0
        self._rows_skipped = 0

    # ------------------------------------------------------------------ reading

    def add_response(self, body: Any, *, source: str = "") -> None:
        """Add one parsed DWDI response page (``{"compute": [...]}``); call once per page.

        :param body: the page, ideally parsed with ``json.loads(..., parse_float=Decimal)``;
            float and int values are accepted too (floats are taken by their shortest repr).
        :param source: names the page in issues, e.g. ``"page 2"``.
        """
        self._pages += 1
        where = source or "response"
        if not isinstance(body, Mapping):
            self._issue("malformed_entry", where, None, None, None, body, "the response is not a JSON object")
            return
        compute = body.get("compute", _MISSING)
        if not isinstance(compute, list):
            self._issue(
                "malformed_entry",
                where,
                None,
                None,
                "compute",
                None if compute is _MISSING else compute,
                "the response has no 'compute' list",
            )
            return
        prefix = f"{source}, compute" if source else "compute"
        with localcontext(self._context) as context:
            for index, entry in enumerate(compute):
                self._entries += 1
                self._add_entry(entry, f"{prefix}[{index}]")
            if context.flags[Inexact]:
                self._inexact = True

    def _add_entry(self, entry: Any, record: str) -> None:
        if not isinstance(entry, Mapping):
            self._issue("malformed_entry", record, None, None, None, entry, "the entry is not a JSON object")
            return
        if self.clusters is not None:
            cluster = entry.get("cluster")
            if not isinstance(cluster, str) or not cluster.strip():
                # The filter cannot be applied: billing an unknown cluster could bill foreign usage.
                self._issue(
                    "missing_cluster",
                    record,
                    _text_or_none(entry.get("account")),
                    None,
                    "cluster",
                    cluster,
                    "the entry names no cluster, so the cluster filter cannot be applied",
                    consequence="the entry is left out",
                )
                return
            if cluster.strip().lower() not in self.clusters:
                self._entries_filtered += 1
                return
        account = entry.get("account")
        if not isinstance(account, str) or not account.strip():
            self._issue(
                "missing_account",
                record,
                None,
                None,
                "account",
                account,
                "the entry has no account",
                consequence="the entry is left out",
            )
            return
        if self.requested is not None and account not in self.requested:
            self._ignored.add(account)
            return
        users = entry.get("users")
        if users is None:
            users = []
        elif not isinstance(users, list):
            self._issue(
                "malformed_entry",
                f"{record}.users",
                account,
                None,
                "users",
                users,
                "'users' is not a list",
                consequence="the entry is left out",
            )
            return
        explicit = self._entry_totals(entry, record, account)
        sums = self._accounts.get(account)
        if sums is None:
            sums = self._accounts[account] = _AccountSums(len(self._fields))
        self._user_rows += len(users)
        # Rows are summed into per-entry dicts first: the entry's users sum then costs one addition
        # per distinct user instead of one per row, and an account's first entry is adopted as is.
        if len(self._fields) == 1:
            entry_users = [self._add_users_one(users, record, account)]
        else:
            entry_users = self._add_users_many(users, record, account)
        for slot, total in enumerate(explicit):
            users_sum = _merge(sums.users, slot, entry_users[slot])
            if total is None:
                sums.totals[slot] += users_sum
            else:
                sums.totals[slot] += total
                sums.has_explicit[slot] = True
                sums.explicit_totals[slot] += total
                sums.explicit_users[slot] += users_sum

    def _entry_totals(self, entry: Mapping[str, Any], record: str, account: str) -> list[Decimal | None]:
        """The entry's explicit total per component; None: take the sum of its users."""
        totals: list[Decimal | None] = []
        for total_field, account_field in self._total_fields:
            key = total_field if total_field in entry else account_field if account_field in entry else None
            if key is None:
                totals.append(None)
                continue
            totals.append(
                self._checked(
                    entry[key],
                    record,
                    account,
                    None,
                    key,
                    consequence="the account total is taken from its users",
                )
            )
        return totals

    def _add_users_one(self, users: list[Any], record: str, account: str) -> dict[str, Decimal]:
        """Sum the user rows of one entry for a single component, by username.

        The hot path of the aggregation (millions of rows): plain Decimal and int values of
        well-formed rows are added inline; anything else goes through ``_slow_row``.
        """
        field = self._fields[0]
        per_user: dict[str, Decimal] = {}
        get = per_user.get
        for index, row in enumerate(users):
            if row.__class__ is dict:
                name = row.get("username")
                if name.__class__ is str and name and not name.isspace():
                    value = row.get(field, _MISSING)
                    kind = value.__class__
                    if kind is Decimal:
                        # is_signed() also sends -0 to the slow path, which accepts it.
                        if value.is_finite() and not value.is_signed():
                            per_user[name] = get(name, _ZERO) + value
                            continue
                    elif kind is int:
                        if value >= 0:
                            per_user[name] = get(name, _ZERO) + value
                            continue
                    elif kind is float:
                        # Parsed without parse_float=Decimal: repr() is the float's shortest text.
                        if 0.0 <= value < _INFINITY:
                            per_user[name] = get(name, _ZERO) + Decimal(repr(value))
                            continue
                    elif value is _MISSING:
                        # A row without this component contributes nothing: not an issue.
                        continue
            good = self._slow_row(row, f"{record}.users[{index}]", account)
            if good is not None:
                name, values = good
                if values[0] is not None:
                    per_user[name] = get(name, _ZERO) + values[0]
        return per_user

    def _add_users_many(self, users: list[Any], record: str, account: str) -> list[dict[str, Decimal]]:
        """Sum the user rows of one entry for several components, by component and username.

        A row is checked completely before anything of it is added: under SKIP a bad row is left
        out with all its components.
        """
        fields = self._fields
        per_user: list[dict[str, Decimal]] = [{} for _ in fields]
        pairs = tuple(zip(fields, per_user, strict=True))
        for index, row in enumerate(users):
            if row.__class__ is dict:
                name = row.get("username")
                if name.__class__ is str and name and not name.isspace():
                    for field in fields:
                        value = row.get(field, _MISSING)
                        if value is _MISSING:
                            continue
                        kind = value.__class__
                        if kind is Decimal:
                            if value.is_finite() and not value.is_signed():
                                continue
                        elif kind is int:
                            if value >= 0:
                                continue
                        elif kind is float and 0.0 <= value < _INFINITY:
                            continue
                        break  # unusual value: the slow path decides
                    else:
                        for field, sums in pairs:
                            value = row.get(field)
                            if value is not None:
                                if value.__class__ is float:
                                    value = Decimal(repr(value))
                                sums[name] = sums.get(name, _ZERO) + value
                        continue
            good = self._slow_row(row, f"{record}.users[{index}]", account)
            if good is not None:
                name, values = good
                for (_field, sums), value in zip(pairs, values, strict=True):
                    if value is not None:
                        sums[name] = sums.get(name, _ZERO) + value
        return per_user

    def _slow_row(self, row: Any, record: str, account: str) -> tuple[str, list[Decimal | None]] | None:
        """Check an unusual user row; returns its name and values, or None when it is left out."""
        if not isinstance(row, Mapping):
            self._issue(
                "malformed_entry",
                record,
                account,
                None,
                None,
                row,
                "the user row is not a JSON object",
                consequence="the row is left out",
            )
            self._rows_skipped += 1
            return None
        name = row.get("username", _MISSING)
        if not isinstance(name, str) or not name.strip():
            self._issue(
                "missing_username",
                record,
                account,
                None,
                "username",
                None if name is _MISSING else name,
                "the user row has no username",
                consequence="the row is left out",
            )
            self._rows_skipped += 1
            return None
        values: list[Decimal | None] = []
        good = True
        for field in self._fields:
            if field not in row:
                values.append(None)
                continue
            value = self._checked(row[field], record, account, name, field, consequence="the row is left out")
            good = good and value is not None
            values.append(value)
        if not good:
            self._rows_skipped += 1
            return None
        return name, values

    def _checked(
        self, value: Any, record: str, account: str, user: str | None, field: str, *, consequence: str
    ) -> Decimal | None:
        """The value as a non-negative Decimal, or None after recording why it is not one."""
        problem: str | None = None
        kind = ""
        number: Decimal | None = None
        if value is None:
            kind, problem = "null_value", "is null"
        elif isinstance(value, bool) or not isinstance(value, (Decimal, int, float)):
            # JSON true/false and strings (even "12") are not numbers: DWDI sends numbers.
            kind, problem = "non_numeric", "is not a number"
        elif isinstance(value, float) and not math.isfinite(value):
            kind, problem = "not_a_number", "is not a finite number"
        else:
            # repr(): the shortest text that reads back as this float (0.1 -> "0.1").
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            if not number.is_finite():
                kind, problem, number = "not_a_number", "is not a finite number", None
            elif number < 0:
                kind, problem, number = "negative_value", "is negative", None
        if problem is None:
            return number
        owner = f"of user {user!r} in account {account!r}" if user is not None else f"of account {account!r}"
        self._issue(
            kind, record, account, user, field, value, f"{field} {owner} {problem}", consequence=consequence
        )
        return None

    def _issue(
        self,
        kind: str,
        record: str,
        account: str | None,
        user: str | None,
        field: str | None,
        value: Any,
        what: str,
        *,
        consequence: str = "it is left out",
    ) -> None:
        self._issue_count += 1
        if len(self._issues) >= MAX_ISSUES_KEPT:
            return
        shown = _shown(value)
        message = f"{record}: {what} (value: {shown})"
        if self.policy is BadValuePolicy.SKIP:
            message += f"; {consequence}"
        self._issues.append(UsageIssue(kind, record, account, user, field, shown, message + "."))

    # ------------------------------------------------------------------ reporting

    def build_report(self, *, month: str, window: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The aggregated report (``docs/architecture.md``), amounts as 2-decimal strings.

        :raises UsageDataError: with policy FAIL when any issue was found (``.issues`` holds
            them), and with any policy when a sum would not fit 50 significant digits.
        """
        month = parse_month(month)
        if self._inexact:
            raise UsageDataError(
                f"DWDI values too large or too precise to sum exactly in {SUM_PRECISION} digits; "
                "the month cannot be billed."
            )
        # Sums have at most SUM_PRECISION digits, so with the factor's digits on top the product
        # is exact too: the quantize below is the only rounding.
        product_context = self._context.copy()
        product_context.prec = SUM_PRECISION + max(
            len(component.unit_factor.as_tuple().digits) for component in self.components
        )
        with localcontext(product_context):
            accounts, exceed = self._report_accounts()
        issues = self._issues + exceed[: max(0, MAX_ISSUES_KEPT - len(self._issues))]
        issue_count = self._issue_count + len(exceed)
        if issue_count and self.policy is BadValuePolicy.FAIL:
            raise UsageDataError(_refusal_message(month, issues, issue_count), issues)
        with_data = sum(1 for name in accounts if name in self._accounts)
        report: dict[str, Any] = {
            "schema_version": REPORT_SCHEMA_VERSION,
            "month": month,
            "window": dict(window) if window is not None else None,
            "policy": self.policy.value,
            "components": {component.type: component.to_json() for component in self.components},
            "accounts": accounts,
            "issues": [issue.to_json() for issue in issues],
            "counts": {
                "pages": self._pages,
                "entries": self._entries,
                "entries_filtered": self._entries_filtered,
                "user_rows": self._user_rows,
                "accounts_reported": len(accounts),
                "accounts_without_data": len(accounts) - with_data,
                "accounts_ignored": len(self._ignored),
                "rows_skipped": self._rows_skipped,
                "issues": issue_count,
            },
            "ignored_accounts_sample": sorted(self._ignored)[:IGNORED_ACCOUNTS_SAMPLE],
        }
        validate_report(report)
        return report

    def _report_accounts(self) -> tuple[dict[str, Any], list[UsageIssue]]:
        names = sorted(self._accounts if self.requested is None else self.requested)
        zero_totals = {component.type: "0.00" for component in self.components}
        accounts: dict[str, Any] = {}
        exceed: list[UsageIssue] = []
        for name in names:
            sums = self._accounts.get(name)
            if sums is None:
                accounts[name] = {"total": dict(zero_totals), "users": {}}
                continue
            users: dict[str, dict[str, str]] = {}
            total: dict[str, str] = {}
            for slot, component in enumerate(self.components):
                factor = component.unit_factor
                total[component.type] = _amount(sums.totals[slot], factor)
                for username, raw in sums.users[slot].items():
                    users.setdefault(username, {})[component.type] = _amount(raw, factor)
                if sums.has_explicit[slot]:
                    # Compared as billed (cents): sub-cent float noise in DWDI's own sums is no issue.
                    given = _amount(sums.explicit_totals[slot], factor)
                    of_users = _amount(sums.explicit_users[slot], factor)
                    if Decimal(of_users) > Decimal(given):
                        exceed.append(self._exceed_issue(name, component, given, of_users))
            accounts[name] = {"total": total, "users": {user: users[user] for user in sorted(users)}}
        return accounts, exceed

    def _exceed_issue(
        self, account: str, component: ComponentConfig, given: str, of_users: str
    ) -> UsageIssue:
        total_field = account_total_fields(component.dwdi_field)[0]
        message = (
            f"account {account}: the users' {component.dwdi_field} add up to {of_users} "
            f"{component.measured_unit}, more than the account total {given} given by DWDI "
            f"({total_field} or its seed-era name)"
        )
        if self.policy is BadValuePolicy.SKIP:
            message += "; the account total is kept"
        return UsageIssue(
            "users_exceed_total",
            f"account {account}",
            account,
            None,
            component.dwdi_field,
            f"users {of_users} > total {given}",
            message + ".",
        )


def _merge(accounts_users: list[dict[str, Decimal]], slot: int, entry_users: dict[str, Decimal]) -> Decimal:
    """Add an entry's per-user sums to the account's; returns the entry's users sum."""
    into = accounts_users[slot]
    if not into:
        accounts_users[slot] = entry_users
    else:
        get = into.get
        for name, value in entry_users.items():
            into[name] = get(name, _ZERO) + value
    return sum(entry_users.values(), _ZERO)


def _amount(raw: Decimal, factor: Decimal) -> str:
    """Raw DWDI sum -> billed amount: times ``unit_factor``, rounded half up to cents once."""
    amount = (raw * factor).quantize(_CENT, rounding=ROUND_HALF_UP)
    # Only -0 can be signed here (negative values never get in); "-0.00" is not an amount.
    return str(amount.copy_abs() if amount.is_signed() else amount)


def _shown(value: Any) -> str:
    """The offending value as readable text, at most 80 characters."""
    text = str(value) if isinstance(value, Decimal) else repr(value)
    if len(text) > VALUE_SHOWN_CHARS:
        text = text[: VALUE_SHOWN_CHARS - 3] + "..."
    return text


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _refusal_message(month: str, issues: Sequence[UsageIssue], issue_count: int) -> str:
    lines = [f"{issue_count} issue(s) in the DWDI data for {month}; nothing can be billed:"]
    lines += [f"  {issue.message}" for issue in issues[:ISSUES_IN_MESSAGE]]
    more = issue_count - min(len(issues), ISSUES_IN_MESSAGE)
    if more > 0:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines)
