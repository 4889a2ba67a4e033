"""Operators that own one hook, and the base of the tasks that talk to Waldur.

As ``HttpOperator.hook`` and ``AwsBaseOperator[SnsHook]`` do in the official providers, an
operator owns one hook, a ``@cached_property hook`` built on first use from the operator's own
connection id. The hook lives for one ``execute`` (:class:`HookOwningOperator`): every
subclass's ``execute`` is wrapped so that the hook's pooled connections are released when it
returns or raises, and ``on_kill`` does the same for a task Airflow stops (a later use of
``hook`` builds a fresh one). :class:`WaldurBaseOperator` adds the arguments every Waldur-facing
task shares.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import Asset, BaseOperator

from airflow_provider_cscs_dwdi.assets import billing_alias
from airflow_provider_cscs_dwdi.core.billed_totals import billing_event_extra
from airflow_provider_cscs_dwdi.core.task_settings import WaldurTarget
from airflow_provider_cscs_dwdi.core.xcom import PushResult, UsageReport
from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook
from airflow_provider_cscs_dwdi.operators._clock import Clock
from airflow_provider_cscs_dwdi.operators._guard import AnomalyGuard
from airflow_provider_cscs_dwdi.operators._lineage import TaskLineage, written_lineage
from airflow_provider_cscs_dwdi.operators._params import read_arguments
from airflow_provider_cscs_dwdi.operators._waldur_writer import push_report


class HookOwningOperator(BaseOperator):
    """An operator whose ``hook`` (a ``cached_property`` of the subclass) is closed after each execute."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        execute = cls.__dict__.get("execute")
        if callable(execute):
            # Not left to post_execute: Airflow calls it only after a successful execute.
            cls.execute = _closing_the_hook(execute)  # type: ignore[method-assign]

    def close_hook(self) -> None:
        """Release the hook's pooled connections, if it was built (the next use builds a new one)."""
        hook = self.__dict__.pop("hook", None)
        if hook is not None:
            hook.close()

    def on_kill(self) -> None:
        self.close_hook()
        super().on_kill()


class WaldurBaseOperator(HookOwningOperator):
    """A task that reads or writes one Waldur offering over one :class:`WaldurHook`.

    Its Waldur arguments are those of ``core.task_settings.WaldurTarget`` (the DAG factory
    passes ``WaldurTarget.of(offering).arguments()``); ``execute`` reads them back, rendered, as
    ``target``.

    :param waldur_conn_id: the ``waldur`` connection.
    :param offering_uuid: the Waldur offering (None where the task may do without one).
    :param billing_timezone: IANA time zone in which billing months begin and end.
    :param clock: the current time, which tells the current month and the usage ``date``
        (default: the operators' clock, see :mod:`._clock`).
    """

    #: How refusals name what the task writes ("push"; the audit's repair says "repair").
    write_action = "push"
    #: What the task's last write produced, for ``get_openlineage_facets_on_complete``.
    _lineage: TaskLineage | None = None

    def __init__(
        self,
        *,
        waldur_conn_id: str = WaldurHook.default_conn_name,
        offering_uuid: str | None = None,
        billing_timezone: str = "UTC",
        clock: Clock | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.waldur_conn_id = waldur_conn_id
        self.offering_uuid = offering_uuid
        self.billing_timezone = billing_timezone
        self.clock = clock

    @property
    def target(self) -> WaldurTarget:
        """The rendered Waldur arguments, read back with ``core.task_settings.WaldurTarget``."""
        return read_arguments(self, WaldurTarget)

    @cached_property
    def hook(self) -> WaldurHook:
        """The task's Waldur hook (one pooled session, shared by the threads of the task)."""
        return WaldurHook(self.target.waldur_conn_id)

    def push_report(
        self,
        report: UsageReport,
        *,
        dry_run: bool,
        reconcile: bool,
        task_instance: Any = None,
        guard: AnomalyGuard | None = None,
        only: Sequence[tuple[str, str]] | None = None,
    ) -> PushResult:
        """:func:`._waldur_writer.push_report` with this task's hook, offering, time zone and clock."""
        target = self.target
        result = push_report(
            self.hook,
            report,
            offering_uuid=str(target.offering_uuid),
            offering=self.offering,
            billing_timezone=target.billing_timezone,
            log=self.log,
            dry_run=dry_run,
            reconcile=reconcile,
            clock=self.clock,
            action=self.write_action,
            task_instance=task_instance,
            guard=guard,
            only=only,
        )
        self._lineage = written_lineage(result, report, self.hook.settings.api_url, str(target.offering_uuid))
        return result

    @property
    def offering(self) -> str:
        """How messages name the offering: ``offering <uuid> (DAG <dag_id>)``."""
        return f"offering {self.offering_uuid} (DAG {self.dag_id})"


class GuardedWriteOperator(WaldurBaseOperator):
    """A task that writes a report's month through the guarded write path: the push, the approval.

    :param dry_run: plan and log, write nothing (kept as ``dry_run_setting``: ``dry_run`` is
        ``BaseOperator``'s method); :param reconcile: also write 0 for users DWDI no longer reports.
    :param billing_asset: the offering's Asset: a write adds an event to it through its alias,
        which the task declares as outlet; :param closes_month: the event closes the month.
    :param anomaly_guard: the offering's ``anomaly_guard`` (plain data); None: no guard.
    :param pushed_archive_roots: the usage and closing DAGs' archive folders (the month's last push).
    :param fetch_task_id: the task whose XCom (same map index) names the report's archive.
    """

    def __init__(
        self,
        *,
        dry_run: bool | str = False,
        reconcile: bool | str = False,
        billing_asset: Asset | None = None,
        closes_month: bool = False,
        anomaly_guard: Mapping[str, Any] | None = None,
        pushed_archive_roots: Sequence[str] = (),
        fetch_task_id: str = "fetch_usage",
        **kwargs: Any,
    ) -> None:
        # Two tasks writing the same offering at once could interleave old and new values.
        kwargs.setdefault("max_active_tis_per_dag", 1)
        if billing_asset is not None:
            alias = billing_alias(billing_asset)
            outlets = list(kwargs.get("outlets") or [])
            kwargs["outlets"] = outlets if alias in outlets else [*outlets, alias]
        super().__init__(**kwargs)
        self.dry_run_setting = dry_run
        self.reconcile = reconcile
        self.billing_asset = billing_asset
        self.closes_month = closes_month
        self.anomaly_guard = dict(anomaly_guard) if anomaly_guard is not None else None
        self.pushed_archive_roots = list(pushed_archive_roots)
        self.fetch_task_id = fetch_task_id

    def add_billing_event(
        self, context: Any, report: UsageReport, result: PushResult, *, closed: bool
    ) -> None:
        """The billing asset's event of a write (none without an asset)."""
        if self.billing_asset is None:
            return
        extra = billing_event_extra(
            report, result, offering_uuid=str(self.target.offering_uuid), closed=closed
        )
        context["outlet_events"][billing_alias(self.billing_asset)].add(self.billing_asset, extra=extra)
        self.log.info("Asset event on %s: %s", self.billing_asset.uri, extra)


def _closing_the_hook(execute: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(execute)
    def run_then_close(self: HookOwningOperator, *args: Any, **kwargs: Any) -> Any:
        try:
            return execute(self, *args, **kwargs)
        finally:
            self.close_hook()

    return run_then_close
