"""The ``billing_months`` task: which billing months a run reports, and for which accounts.

:class:`PlanBillingRunOperator` reads the ``list_backend_ids`` task's
:class:`~core.xcom.BackendIds` and returns a :class:`~core.xcom.BillingPlan`, over whose months
the fetch task is expanded. The decisions themselves are two plain functions
(:func:`resolve_billing_months`, :func:`pick_accounts`) so they can be tested without Airflow's
database.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.logs import Log
from airflow_provider_cscs_dwdi.core.months import current_month, months_to_report, parse_month
from airflow_provider_cscs_dwdi.core.usage_date import (
    month_end_loss_warning,
    parse_clock_time,
    past_month_refusal,
)
from airflow_provider_cscs_dwdi.core.xcom import BackendIds, BillingPlan
from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook
from airflow_provider_cscs_dwdi.operators._base import WaldurBaseOperator
from airflow_provider_cscs_dwdi.operators._clock import Clock, read_clock
from airflow_provider_cscs_dwdi.operators._params import (
    as_bool,
    blank_to_none,
    normalise_accounts,
    run_instant,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


@dataclass(frozen=True)
class AccountSelection:
    """The accounts to fetch, and the requested ones the Waldur offering does not know."""

    accounts: list[str]
    unknown: list[str]


def pick_accounts(requested: Collection[str] | None, backend_ids: Collection[str]) -> AccountSelection:
    """Accounts a run fetches: the requested ones that Waldur knows, or every backend ID.

    :param requested: the ``accounts`` param; ``None`` or empty means every backend ID.
    :param backend_ids: the backend IDs of the offering's resources in Waldur.
    """
    known = sorted(set(backend_ids))
    if not requested:
        return AccountSelection(accounts=known, unknown=[])
    wanted = set(requested)
    return AccountSelection(
        accounts=sorted(wanted.intersection(known)), unknown=sorted(wanted.difference(known))
    )


def resolve_billing_months(
    *,
    month: str | None,
    instant: datetime,
    billing_timezone: str,
    reopen_days: int,
    previous_month_allowed: Callable[[], bool],
    log: Log,
    now: datetime | None = None,
    dry_run: bool = False,
    requested: bool | None = None,
    month_end_run: time | None = None,
) -> list[str]:
    """The months a run reports, oldest first.

    An explicit ``month`` (the trigger form's ``YYYY-MM``) is reported alone. Otherwise the month of
    the run (see ``core.months.months_to_report``), preceded on the first ``reopen_days`` days by the
    previous month so late DWDI data still reaches Waldur.

    A month before the current one (at ``now``, in the billing time zone) can be written only to a
    Waldur server that honours the usage ``date``; ``previous_month_allowed`` is asked only then (it
    may cost a request to Waldur). When the server ignores the date, such a month is
    - planned all the same in a ``dry_run`` (nothing is written; the push logs its plan);
    - refused at once (AirflowFailException, before DWDI is asked) when someone asked for it:
      ``requested`` (default: an explicit ``month`` was given), e.g. a manual run or a backfill;
    - left out of a scheduled run with a warning saying how much of its end was lost: the run at
      00:00 on the 1st then plans no month and ends without a failed task.
    """
    if month:
        months = [parse_month(month)]
    else:
        months = months_to_report(instant, billing_timezone, reopen_days=reopen_days, previous_allowed=True)
    current = current_month(billing_timezone, now)
    past = [candidate for candidate in months if candidate < current]
    if not past or previous_month_allowed():
        return months
    if dry_run:
        log.warning(
            "Dry run of %s: planned in full, but a real run would be refused: %s",
            ", ".join(past),
            past_month_refusal(past[0], current, billing_timezone),
        )
        return months
    if bool(month) if requested is None else requested:
        # Deterministic: a retry would be refused the same way.
        raise AirflowFailException(past_month_refusal(past[0], current, billing_timezone))
    for lost in past:
        log.warning("%s", month_end_loss_warning(lost, billing_timezone, month_end_run))
    return [candidate for candidate in months if candidate >= current]


def _requested(month: str | None, run_type: str | None) -> bool:
    """Whether a person asked for the run's months: a backfill, or a month given to a run the
    scheduler did not create (a scheduled run of a DAG whose month comes from its timetable must
    not fail every month on a Waldur server that ignores the usage date)."""
    return run_type == "backfill" or (month is not None and run_type != "scheduled")


class PlanBillingRunOperator(WaldurBaseOperator):
    """Plan one run of an offering's DAG: the billing months and the accounts (a ``BillingPlan``).

    Returns the list of ``YYYY-MM`` months to report (the fetch task is expanded over it) and
    pushes the accounts to fetch under the XCom key ``BillingPlan.ACCOUNTS_KEY`` (``accounts``):
    the requested ``accounts`` that the Waldur offering knows (unknown ones are logged; none known
    fails the task, as it would bill nothing the operator asked for), or every backend ID when
    none were requested.

    :param backend_ids: the XCom of ``ListWaldurBackendIdsOperator`` (a ``BackendIds`` document).
    :param billing_timezone: IANA time zone in which months begin and end.
    :param reopen_previous_month_days: re-report the previous month on this many first days.
    :param waldur_conn_id: Waldur connection, asked whether the server honours the usage ``date``.
    :param offering_uuid: the offering whose components tell that (without it, any visible one).
    :param month: ``YYYY-MM`` to report alone; empty means "from the run date".
    :param accounts: accounts to report; empty means all the offering's backend IDs.
    :param dry_run: the run writes nothing, so past months are planned even for a Waldur server
        that ignores the usage ``date`` (the push logs what it would write). Templated; kept as
        ``dry_run_setting`` (``dry_run`` is ``BaseOperator``'s method).
    :param month_end_run: the offering's extra run on a month's last day (``HH:MM``), for the
        warning that says how much of a month such a server lost.
    :param clock: the current time, which tells the current month (default: the operators' clock,
        see :mod:`._clock`).
    """

    template_fields: Sequence[str] = ("backend_ids", "month", "accounts", "dry_run_setting")
    ui_color = "#eef7ee"

    def __init__(
        self,
        *,
        backend_ids: Mapping[str, Any] | Any,
        billing_timezone: str,
        reopen_previous_month_days: int = 3,
        waldur_conn_id: str = WaldurHook.default_conn_name,
        offering_uuid: str | None = None,
        month: str | None = None,
        accounts: Sequence[str] | str | None = None,
        dry_run: bool | str = False,
        month_end_run: str | None = None,
        clock: Clock | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            waldur_conn_id=waldur_conn_id,
            offering_uuid=offering_uuid,
            billing_timezone=billing_timezone,
            clock=clock,
            **kwargs,
        )
        self.backend_ids = backend_ids
        self.reopen_previous_month_days = reopen_previous_month_days
        self.month = month
        self.accounts = accounts
        self.dry_run_setting = dry_run
        self.month_end_run = month_end_run

    def execute(self, context: Context) -> list[str]:
        target = self.target
        months = resolve_billing_months(
            month=blank_to_none(self.month),
            instant=run_instant(context),
            billing_timezone=target.billing_timezone,
            reopen_days=self.reopen_previous_month_days,
            previous_month_allowed=lambda: self.hook.usage_date_honoured(target.offering_uuid),
            log=self.log,
            now=read_clock(self.clock),
            dry_run=as_bool(self.dry_run_setting, "dry_run"),
            requested=_requested(
                blank_to_none(self.month), getattr(context.get("dag_run"), "run_type", None)
            ),
            month_end_run=parse_clock_time(self.month_end_run) if self.month_end_run else None,
        )
        plan = BillingPlan(months=tuple(months), accounts=tuple(self._select_accounts().accounts))
        context["ti"].xcom_push(key=BillingPlan.ACCOUNTS_KEY, value=plan.accounts_to_xcom())
        self.log.info(
            "Reporting %s for %d account(s)", ", ".join(plan.months) or "no month", len(plan.accounts)
        )
        return plan.to_xcom()

    def _select_accounts(self) -> AccountSelection:
        try:
            backend_ids = BackendIds.from_xcom(self.backend_ids)
        except ReportError as error:
            raise AirflowException(f"The backend IDs of list_backend_ids cannot be read: {error}") from error
        requested = normalise_accounts(self.accounts)
        selection = pick_accounts(requested, backend_ids.backend_ids)
        if selection.unknown:
            self.log.warning(
                "Ignoring %d requested account(s) that are not backend IDs of this Waldur offering: %s",
                len(selection.unknown),
                ", ".join(selection.unknown),
            )
        if requested and not selection.accounts:
            raise AirflowException(
                f"None of the requested accounts ({', '.join(selection.unknown)}) is a backend ID of "
                "this Waldur offering; nothing to report."
            )
        if not selection.accounts:
            self.log.warning("The Waldur offering has no resource with a backend ID: nothing to report.")
        return selection
