"""Aggregate DWDI compute-usage responses into exact per-account and per-user totals.

:class:`UsageAggregator` takes one parsed DWDI response page at a time (``add_response``) and
keeps only running sums per account, component and user, so months of millions of user rows
aggregate in bounded memory. ``result`` turns the sums into billed amounts
(:class:`AggregatedUsage`), from which ``core.report.build_report`` builds the versioned report.

Rules (see ``docs/architecture.md`` and the DWDI reference):
    * Every quantity is a ``Decimal``; sums run in a 50-digit local context so nothing rounds
      while summing; the sum is multiplied by ``unit_factor`` and rounded half up to cents once.
    * An account total comes from ``total<Field>`` (preferred) or ``account<Field>``, else it is
      the sum of the entry's users. The same account in several entries (clusters, months) is
      summed, never overwritten; the same user in several rows is summed.
    * Bad values (null, negative, NaN/Infinity, strings, booleans) never become zero
      (``core.quantities``). Each one is an :class:`~core.issues.Issue`. With
      :attr:`BadValuePolicy.FAIL` the report is refused listing every issue; with
      :attr:`BadValuePolicy.SKIP` a bad user row is left out (all its components), a bad account
      total falls back to the sum of the entry's good users, and the issues are listed in the
      report.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any, TypedDict

from airflow_provider_cscs_dwdi.core.components import ComponentConfig, account_total_fields
from airflow_provider_cscs_dwdi.core.issues import Issue, UsageDataError
from airflow_provider_cscs_dwdi.core.page_aggregator import SUM_PRECISION, BadValuePolicy, PageAggregator

#: Significant digits while summing: far above any DWDI value, so sums stay exact.
_CENT = Decimal("0.01")
_ZERO = Decimal(0)


class AccountUsage(TypedDict):
    """One account's billed amounts (2-decimal strings) by component type, in total and per user."""

    total: dict[str, str]
    users: dict[str, dict[str, str]]


@dataclass(frozen=True)
class AggregatedUsage:
    """A month as the aggregator summed it: billed amounts, issues and counts.

    The input of ``core.report.build_report``, which decides whether it can be billed.
    """

    components: tuple[ComponentConfig, ...]
    policy: BadValuePolicy
    #: Every requested account (or, without a request, every account seen), sorted by name.
    accounts: dict[str, AccountUsage]
    accounts_with_data: int
    #: Accounts DWDI returned that nobody requested, sorted.
    ignored_accounts: tuple[str, ...]
    #: The issues kept in detail (at most ``core.issues.MAX_ISSUES_KEPT``); ``issue_count`` counts all.
    issues: tuple[Issue, ...]
    issue_count: int
    pages: int
    entries: int
    entries_filtered: int
    user_rows: int
    rows_skipped: int
    #: ``core.kinds.UsageKind`` value: compute, storage or inference.
    usage_kind: str = "compute"
    #: Requested resources that DWDI returned nothing for and that get no write (storage levels:
    #: a zero would claim the data vanished). Compute and inference bill those as zero instead.
    without_data: tuple[str, ...] = ()


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


class UsageAggregator(PageAggregator):
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
        super().__init__(components, policy=policy)
        self.requested = None if requested_accounts is None else frozenset(map(str, requested_accounts))
        self.clusters = None if clusters is None else frozenset(str(c).lower() for c in clusters)
        self._total_fields = tuple(account_total_fields(field) for field in self._fields)
        self._accounts: dict[str, _AccountSums] = {}
        self._ignored: set[str] = set()
        self._entries_filtered = 0
        self._user_rows = 0

    # ------------------------------------------------------------------ reading
    list_key = "compute"

    def _add_record(self, entry: Any, record: str) -> None:
        if not isinstance(entry, Mapping):
            self._issues.add(
                "malformed_entry", record, None, None, None, entry, "the entry is not a JSON object"
            )
            return
        if self.clusters is not None:
            cluster = entry.get("cluster")
            if not isinstance(cluster, str) or not cluster.strip():
                # The filter cannot be applied: billing an unknown cluster could bill foreign usage.
                self._issues.add(
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
            self._issues.add(
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
            self._issues.add(
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
        entry_users = self._quantities.sum_users(users, record, account)
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
                self._quantities.quantity(
                    entry[key],
                    record,
                    account,
                    None,
                    key,
                    consequence="the account total is taken from its users",
                )
            )
        return totals

    # ------------------------------------------------------------------ totals

    def result(self) -> AggregatedUsage:
        """The billed amounts of every account, the issues and the counts, as summed so far.

        May be called more than once (nothing is consumed).

        :raises UsageDataError: when a sum would not fit 50 significant digits (any policy).
        """
        if self._inexact:
            raise UsageDataError(
                f"DWDI values too large or too precise to sum exactly in {SUM_PRECISION} digits; "
                "the month cannot be billed."
            )
        with localcontext(billing_context(self.components)):
            accounts, exceed = self._billed_accounts()
        issues, issue_count = self._issues.with_final(exceed)
        return AggregatedUsage(
            components=self.components,
            policy=self.policy,
            accounts=accounts,
            accounts_with_data=sum(1 for name in accounts if name in self._accounts),
            ignored_accounts=tuple(sorted(self._ignored)),
            issues=tuple(issues),
            issue_count=issue_count,
            pages=self._pages,
            entries=self._entries,
            entries_filtered=self._entries_filtered,
            user_rows=self._user_rows,
            rows_skipped=self._quantities.rows_skipped,
        )

    def _billed_accounts(self) -> tuple[dict[str, AccountUsage], list[Issue]]:
        names = sorted(self._accounts if self.requested is None else self.requested)
        zero_totals = {component.type: "0.00" for component in self.components}
        accounts: dict[str, AccountUsage] = {}
        exceed: list[Issue] = []
        for name in names:
            sums = self._accounts.get(name)
            if sums is None:
                accounts[name] = {"total": dict(zero_totals), "users": {}}
                continue
            users: dict[str, dict[str, str]] = {}
            total: dict[str, str] = {}
            for slot, component in enumerate(self.components):
                factor = component.unit_factor
                total[component.type] = billed_amount(sums.totals[slot], factor)
                for username, raw in sums.users[slot].items():
                    users.setdefault(username, {})[component.type] = billed_amount(raw, factor)
                if sums.has_explicit[slot]:
                    # Compared as billed (cents): sub-cent float noise in DWDI's own sums is no issue.
                    given = billed_amount(sums.explicit_totals[slot], factor)
                    of_users = billed_amount(sums.explicit_users[slot], factor)
                    if Decimal(of_users) > Decimal(given):
                        exceed.append(self._exceed_issue(name, component, given, of_users))
            accounts[name] = {"total": total, "users": {user: users[user] for user in sorted(users)}}
        return accounts, exceed

    def _exceed_issue(self, account: str, component: ComponentConfig, given: str, of_users: str) -> Issue:
        total_field = account_total_fields(component.dwdi_field)[0]
        message = (
            f"account {account}: the users' {component.dwdi_field} add up to {of_users} "
            f"{component.measured_unit}, more than the account total {given} given by DWDI "
            f"({total_field} or its seed-era name)"
        )
        if self.policy is BadValuePolicy.SKIP:
            message += "; the account total is kept"
        return Issue(
            kind="users_exceed_total",
            message=message + ".",
            record=f"account {account}",
            account=account,
            field=component.dwdi_field,
            value=f"users {of_users} > total {given}",
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


def billing_context(components: Sequence[ComponentConfig]) -> Context:
    """The context to bill sums in: precise enough that the only rounding is ``billed_amount``'s.

    Sums have at most ``SUM_PRECISION`` digits, so with the factor's digits on top the product is
    exact too.
    """
    return Context(
        prec=SUM_PRECISION + max(len(component.unit_factor.as_tuple().digits) for component in components),
        rounding=ROUND_HALF_UP,
    )


def billed_amount(raw: Decimal, factor: Decimal) -> str:
    """Raw DWDI sum -> billed amount: times ``unit_factor``, rounded half up to cents once."""
    amount = (raw * factor).quantize(_CENT, rounding=ROUND_HALF_UP)
    # Only -0 can be signed here (negative values never get in); "-0.00" is not an amount.
    return str(amount.copy_abs() if amount.is_signed() else amount)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


__all__ = ["SUM_PRECISION", "AccountUsage", "AggregatedUsage", "BadValuePolicy", "UsageAggregator"]
