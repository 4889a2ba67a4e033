"""Alerts of an offering through Airflow notifiers, as the offerings file names them.

An offerings-file ``notifications`` entry names the events (``failure``, ``issues``, ``drift``,
``month_closed``, ``anomaly``), a notifier (``smtp``, ``slack`` or ``package.module:ClassName`` of an Airflow
``BaseNotifier``), the Airflow connection holding its credentials and further options (e.g.
``to``). :func:`notifiers_for` turns the entries of one offering and one event into
:class:`OfferingAlertNotifier` callbacks: each builds its message from the callback's context
(:mod:`core.alerts`), then sends it with the named notifier. Every notifier class is imported and
its options are checked when the DAGs are built, so a missing provider or a wrong option is a DAG
import error naming the offering and the notification, not a lost alert on the day it matters.

The message is handed to the notifier as plain text and is not rendered as a template: an issue
quoting a DWDI value cannot inject Jinja. Messages hold counts and record names, never a secret.
"""

from __future__ import annotations

import html
import importlib
import inspect
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from airflow_provider_cscs_dwdi.core.alerts import (
    ANOMALY,
    FAILURE,
    ISSUES,
    MONTH_CLOSED,
    AlertMessage,
    RunLabel,
    UnknownResources,
    anomaly_message,
    approval_timeout_message,
    failure_message,
    issues_message,
    month_closed_message,
    unknown_resources,
)
from airflow_provider_cscs_dwdi.core.config import NOTIFICATION_EVENTS, NotificationSettings, OfferingConfig
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.held import DECISION_KEY, HELD_KEY
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.report import UsageReport
from airflow_provider_cscs_dwdi.core.xcom import PushResult

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Builds the message of one callback from its context; None: nothing to send this time.
MessageBuilder = Callable[["Context"], AlertMessage | None]
#: Sends one message: builds the configured notifier around it.
_Sender = Callable[[AlertMessage], BaseNotifier]

#: The task whose report the push reads (dag_factory): its XCom carries the unknown inference UUIDs.
AGGREGATE_TASK_ID = "aggregate_usage"
#: The task that asks for approval of held values (dag_factory), which the ``anomaly`` alert links to.
APPROVAL_TASK_ID = "approve_held_values"
_SMTP_NOTIFIER = "airflow.providers.smtp.notifications.smtp:SmtpNotifier"
_SLACK_NOTIFIER = "airflow.providers.slack.notifications.slack:SlackNotifier"
_PROVIDER_PACKAGES = {
    _SMTP_NOTIFIER: "apache-airflow-providers-smtp",
    _SLACK_NOTIFIER: "apache-airflow-providers-slack",
}
# Where a plugged-in notifier takes its text and subject, in order of preference.
_TEXT_PARAMETERS = ("html_content", "text", "message", "body")
_SUBJECT_PARAMETERS = ("subject", "title")


class OfferingAlertNotifier(BaseNotifier):
    """Sends one event of one offering through the notifier of one offerings-file entry.

    :param offering: the offering the alert is about (its name and UUID head every message).
    :param event: ``failure``, ``issues``, ``drift``, ``month_closed`` or ``anomaly``.
    :param settings: the offerings-file entry: notifier, connection id, options.
    :param position: the entry's position in the offering's notifications (1-based), for errors.
    :param message: builds the message from the callback's context; None sends nothing.
    :raises ConfigurationError: the notifier cannot be imported, or does not take its options.
    """

    template_fields = ()

    def __init__(
        self,
        *,
        offering: OfferingConfig,
        event: str,
        settings: NotificationSettings,
        position: int,
        message: MessageBuilder,
    ) -> None:
        super().__init__()
        self.offering_name = offering.name
        self.event = event
        self.notifier_name = settings.notifier
        self.conn_id = settings.conn_id
        self.message = message
        self._send_with = _sender(offering, settings, position)

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Nothing to render (no template fields), so no Jinja environment is built.

        ``dag.test()`` hands DAG callbacks its serialized DAG, which has no template environment:
        building one there would fail the alert of every failed test run.
        """

    def notify(self, context: Context) -> None:
        message = self.message(context)
        if message is None:
            return
        self.log.info(
            "Sending the %s alert of %s through %s (connection %s): %s",
            self.event,
            self.offering_name,
            self.notifier_name,
            self.conn_id,
            message.subject,
        )
        # notify(), not __call__: the text is final and must not be rendered as a template.
        self._send_with(message).notify(context)


def notifiers_for(
    offering: OfferingConfig, event: str, *, message: MessageBuilder | None = None
) -> list[OfferingAlertNotifier]:
    """The notifiers the offerings file names for ``event`` of ``offering``, file-wide ones first.

    Use the list as a DAG or task callback (``on_failure_callback=...``); an empty list means no
    notification is configured. ``message`` replaces the event's default message (required for
    ``drift``, whose content only the audit knows).

    :raises ConfigurationError: unknown event, a notifier that cannot be imported (e.g. Slack's
        provider is not installed) or that does not take the configured options; the message names
        the offering and the notification.
    """
    if event not in NOTIFICATION_EVENTS:
        raise ConfigurationError(
            f"unknown notification event {event!r}: expected one of {NOTIFICATION_EVENTS}"
        )
    selected = [
        (position, settings)
        for position, settings in enumerate(offering.notifications, 1)
        if event in settings.events
    ]
    if not selected:
        return []
    builder = message or _default_message(offering, event)
    return [
        OfferingAlertNotifier(
            offering=offering, event=event, settings=settings, position=position, message=builder
        )
        for position, settings in selected
    ]


def run_label(offering: OfferingConfig, context: Context) -> RunLabel:
    """The offering and the DAG run of a callback's context (a DAG callback may lack the run)."""
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    return RunLabel(
        offering_name=offering.name,
        offering_uuid=offering.offering_uuid,
        dag_id=str(getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", "unknown DAG")),
        run_id=context.get("run_id") or getattr(dag_run, "run_id", None),
    )


def push_result(context: Context) -> PushResult | None:
    """The push result of the task instance a task callback runs for (None if it returned nothing)."""
    ti = context["ti"]
    document = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index, key="return_value")
    return None if document is None else PushResult.from_xcom(document)


def failure_month_builder(
    offering: OfferingConfig, month_of_run: Callable[[Context], str | None]
) -> MessageBuilder:
    """The ``failure`` message of a DAG's failure callback; ``month_of_run`` reads the run's month."""

    def build(context: Context) -> AlertMessage:
        ti = context.get("ti")
        failed_task = None
        if ti is not None:
            map_index = getattr(ti, "map_index", -1)
            failed_task = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}[{map_index}]"
        try:
            month = month_of_run(context)
        except Exception:  # the alert must go out even when the run's context is incomplete
            month = None
        return failure_message(
            run_label(offering, context), month=month, failed_task=failed_task, reason=context.get("reason")
        )

    return build


def _default_message(offering: OfferingConfig, event: str) -> MessageBuilder:
    if event == ISSUES:
        return lambda context: _from_push(
            offering, context, partial(_issues_message, offering=offering, context=context)
        )
    if event == MONTH_CLOSED:
        # A close that held values is closed by their approval (that task's own callback).
        return lambda context: _from_push(
            offering, context, lambda run, result: None if result.held else month_closed_message(run, result)
        )
    if event == ANOMALY:
        return lambda context: _from_push(
            offering, context, lambda run, result: anomaly_message(run, result, approval_url(context))
        )
    if event == FAILURE:
        return failure_month_builder(offering, _requested_month)
    raise ConfigurationError(f"offering {offering.name!r}: the {event!r} alert needs a message builder")


def approval_url(context: Context) -> str | None:
    """The approval's page in Airflow's UI ("Required actions") for this run and map index."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback=None)
    ti, dag_run = context.get("ti"), context.get("dag_run")
    if not base or ti is None or dag_run is None:
        return None
    path = f"dags/{quote(ti.dag_id, safe='')}/runs/{quote(dag_run.run_id, safe='')}/tasks/{APPROVAL_TASK_ID}"
    return f"{base.rstrip('/')}/{path}/required_actions?map_index={ti.map_index}"


def approval_timeout_builder(offering: OfferingConfig) -> MessageBuilder:
    """The ``anomaly`` message of a failed ``approve_held_values``: only when it timed out."""

    def build(context: Context) -> AlertMessage | None:
        ti = context["ti"]
        decision = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index, key=DECISION_KEY)
        if not isinstance(decision, Mapping) or decision.get("decision") != "timed out":
            return None
        held = ti.xcom_pull(task_ids="push_to_waldur", map_indexes=ti.map_index, key=HELD_KEY) or {}
        rows = held.get("rows", []) if isinstance(held, Mapping) else []
        return approval_timeout_message(
            run_label(offering, context), str(decision.get("month")), len(rows), approval_url(context)
        )

    return build


def _from_push(
    offering: OfferingConfig, context: Context, build: Callable[[RunLabel, PushResult], AlertMessage | None]
) -> AlertMessage | None:
    result = push_result(context)
    if result is None or result.dry_run:
        return None
    return build(run_label(offering, context), result)


def _issues_message(
    run: RunLabel, result: PushResult, *, offering: OfferingConfig, context: Context
) -> AlertMessage | None:
    unknown = UnknownResources()
    if offering.usage_kind is UsageKind.INFERENCE:
        # Costs of resource UUIDs the offering lacks are counted by the aggregation, not the push.
        ti = context["ti"]
        document = ti.xcom_pull(task_ids=AGGREGATE_TASK_ID, map_indexes=ti.map_index, key="return_value")
        if document is not None:
            unknown = unknown_resources(UsageReport.from_xcom(document))
    return issues_message(run, result, unknown)


def _requested_month(context: Context) -> str | None:
    params = context.get("params") or {}
    month = params.get("month") if isinstance(params, Mapping) else None
    return month or None


def _sender(offering: OfferingConfig, settings: NotificationSettings, position: int) -> _Sender:
    """Import the notifier now and check its options; returns what builds it around a message."""
    where = (
        f"offering {offering.name!r}: notifications[{position}] "
        f"({settings.notifier}, connection {settings.conn_id!r})"
    )
    options = dict(settings.options)
    if settings.notifier == "smtp":
        if not options.get("to"):
            raise ConfigurationError(f"{where}: options.to: required (the recipients of the mail)")
        smtp_notifier = _import_notifier(_SMTP_NOTIFIER, where)
        _check_arguments(
            smtp_notifier, {**options, "smtp_conn_id": "", "subject": "", "html_content": ""}, where
        )
        # Its own parameters, which BaseNotifier (what the import is typed as) does not have.
        build_smtp: Callable[..., BaseNotifier] = smtp_notifier
        return lambda message: build_smtp(
            **{**options, "from_email": options.get("from_email") or _smtp_sender(settings.conn_id)},
            smtp_conn_id=settings.conn_id,
            subject=message.subject,
            html_content=_as_html(message.body),
        )
    if settings.notifier == "slack":
        slack_notifier = _import_notifier(_SLACK_NOTIFIER, where)
        _check_arguments(slack_notifier, {**options, "slack_conn_id": "", "text": ""}, where)
        build_slack: Callable[..., BaseNotifier] = slack_notifier
        return lambda message: build_slack(
            **options, slack_conn_id=settings.conn_id, text=f"*{message.subject}*\n{message.body}"
        )
    notifier_class = _import_notifier(settings.notifier, where)
    return _plugged_in_sender(notifier_class, settings.conn_id, options, where)


def _plugged_in_sender(
    notifier_class: type[BaseNotifier], conn_id: str, options: dict[str, Any], where: str
) -> _Sender:
    """A ``package.module:Class`` notifier: the connection goes to its ``*conn_id`` parameter, the
    text to ``html_content``, ``text``, ``message`` or ``body``, the subject to ``subject`` or
    ``title`` (or, without one, heads the text)."""
    parameters = inspect.signature(notifier_class).parameters
    conn_parameter = next(
        (name for name in parameters if name == "conn_id" or name.endswith("_conn_id")), None
    )
    text_parameter = next((name for name in _TEXT_PARAMETERS if name in parameters), None)
    subject_parameter = next((name for name in _SUBJECT_PARAMETERS if name in parameters), None)
    if conn_parameter is None or text_parameter is None:
        raise ConfigurationError(
            f"{where}: {notifier_class.__name__} takes no "
            f"{'connection id (a parameter named conn_id or *_conn_id)' if conn_parameter is None else 'text'}"
            f"{'' if text_parameter else ' (a parameter named ' + ', '.join(_TEXT_PARAMETERS) + ')'}"
        )
    fixed = {conn_parameter: "", text_parameter: "", **({subject_parameter: ""} if subject_parameter else {})}
    _check_arguments(notifier_class, {**options, **fixed}, where)

    def build(message: AlertMessage) -> BaseNotifier:
        text = _as_html(message.body) if text_parameter == "html_content" else message.body
        arguments: dict[str, Any] = {**options, conn_parameter: conn_id}
        if subject_parameter:
            arguments[subject_parameter] = message.subject
        else:
            text = f"{message.subject}\n\n{text}"
        arguments[text_parameter] = text
        return notifier_class(**arguments)

    return build


def _import_notifier(path: str, where: str) -> type[BaseNotifier]:
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        package = _PROVIDER_PACKAGES.get(path)
        hint = f": install {package}" if package else ""
        raise ConfigurationError(f"{where}: cannot import {module_name} ({error}){hint}") from None
    notifier_class = getattr(module, class_name, None)
    if not (isinstance(notifier_class, type) and issubclass(notifier_class, BaseNotifier)):
        raise ConfigurationError(f"{where}: {path} is not an Airflow notifier (a BaseNotifier subclass)")
    return notifier_class


def _check_arguments(notifier_class: type[BaseNotifier], arguments: Mapping[str, Any], where: str) -> None:
    """The options must be named parameters of the notifier: a typo fails the DAG import, not the alert.

    Named, not merely accepted: SmtpNotifier takes ``**kwargs`` and fails only when it is built.
    """
    named = {
        name
        for name, parameter in inspect.signature(notifier_class).parameters.items()
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    unknown = sorted(set(arguments) - named)
    if unknown:
        raise ConfigurationError(
            f"{where}: options: {', '.join(unknown)}: not a parameter of {notifier_class.__name__} "
            f"(it takes {', '.join(sorted(named))})"
        )


def _smtp_sender(conn_id: str) -> str | None:
    """The connection's ``from_email`` extra, read here: SmtpNotifier would render it as a template,
    which fails under ``dag.test()`` (its DAG callbacks get the serialized DAG, without Jinja)."""
    from airflow.sdk import BaseHook

    sender = BaseHook.get_connection(conn_id).extra_dejson.get("from_email")
    return str(sender) if sender else None


def _as_html(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"
