"""Issues: records that could not be billed as they are, wherever in the pipeline they were found.

One type for both ends. The aggregation (``core.usage``) records bad DWDI values and malformed
responses; the write plan (``core.waldur_plan``) records what it could not follow in the report or
in Waldur's state (a blank or duplicated backend ID, an unknown component...). Both end up in the
same ``issues`` lists of the documents handed between tasks (``core.xcom``), and the push result
lists the plan's and the report's issues together.

An issue's JSON is ``{"kind", "record", "account", "backend_id", "user", "field", "value",
"message"}``; ``backend_id`` repeats ``account`` (a DWDI account is the ``backend_id`` of its
Waldur resource) because the write plan's issues were published under that name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_provider_cscs_dwdi.core.errors import ReportError

#: Issues kept in detail; beyond this only their number is kept (a DWDI format change could
#: make every one of millions of rows an issue, and the report must not grow without bound).
MAX_ISSUES_KEPT = 10_000
#: Characters of an offending value shown in an issue.
VALUE_SHOWN_CHARS = 80

_ABSENT: Any = object()
_OPTIONAL_TEXT_FIELDS = ("record", "account", "user", "field", "value")


@dataclass(frozen=True)
class Issue:
    """One record that could not be billed as it is, and why.

    Kinds from the aggregation: ``null_value``, ``negative_value``, ``not_a_number``,
    ``non_numeric``, ``missing_account``, ``missing_username``, ``missing_cluster``,
    ``malformed_entry``, ``users_exceed_total``. Kinds from the write plan: ``blank_backend_id``,
    ``duplicate_backend_id``, ``no_waldur_resource``, ``unknown_component``,
    ``component_not_reportable``, ``negative_amount``, ``duplicate_component_usage``,
    ``unstable_listing``.
    """

    kind: str
    message: str  # one readable sentence naming where, what and (under "skip") what was done
    record: str | None = None  # where: "page 2, compute[13].users[4]", "Waldur resource <uuid>"
    account: str | None = None  # the DWDI account, i.e. the Waldur resource's backend_id
    user: str | None = None
    field: str | None = None  # the DWDI field or the Waldur component type concerned
    value: str | None = None  # the offending value as text, at most 80 characters

    def to_json(self) -> dict[str, str | None]:
        """The issue as a JSON object (for the XCom documents and the log)."""
        return {
            "kind": self.kind,
            "record": self.record,
            "account": self.account,
            "backend_id": self.account,
            "user": self.user,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, raw: Any, path: str) -> Issue:
        """Read an issue back from its JSON; an issue published with only ``backend_id`` is read too.

        :param path: where the issue stands in its document, e.g. ``issues[3]``, for the error.
        :raises ReportError: naming ``path`` and the field when the shape is not an issue's.
        """
        if not isinstance(raw, Mapping):
            raise ReportError(f"{path}: expected an object, got {type(raw).__name__}")
        for key in ("kind", "message"):
            if not isinstance(raw.get(key), str):
                raise ReportError(f"{path}.{key}: expected a string, got {raw.get(key)!r}")
        texts: dict[str, str | None] = {}
        for key in _OPTIONAL_TEXT_FIELDS:
            value = raw.get(key)
            if key == "account" and value is None:
                value = raw.get("backend_id")
            if value is not None and not isinstance(value, str):
                raise ReportError(f"{path}.{key}: expected a string or null, got {value!r}")
            texts[key] = value
        return cls(kind=raw["kind"], message=raw["message"], **texts)


def issues_from_json(raw: Any, path: str) -> tuple[Issue, ...]:
    """The issues of a document's ``issues`` list.

    :raises ReportError: naming the list or the first bad issue, e.g. ``issues[2].kind: ...``.
    """
    if not isinstance(raw, list):
        raise ReportError(f"{path}: expected a list, got {'nothing' if raw is None else type(raw).__name__}")
    return tuple(Issue.from_json(item, f"{path}[{index}]") for index, item in enumerate(raw))


def shown_value(value: Any) -> str:
    """An offending value as readable text, at most ``VALUE_SHOWN_CHARS`` characters."""
    text = str(value) if isinstance(value, Decimal) else repr(value)
    if len(text) > VALUE_SHOWN_CHARS:
        text = text[: VALUE_SHOWN_CHARS - 3] + "..."
    return text


class IssueLog:
    """The issues of one aggregation: every one counted, the first ``MAX_ISSUES_KEPT`` kept.

    :param explain_consequences: end each message with what was done with the record (``; the
        row is left out``): true when bad records are skipped rather than refusing the month.
    """

    def __init__(self, *, explain_consequences: bool) -> None:
        self.explain_consequences = explain_consequences
        self.kept: list[Issue] = []
        self.count = 0

    def add(
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
        """Record that ``value`` at ``record`` is a ``kind`` issue; ``what`` says it in words."""
        self.count += 1
        if len(self.kept) >= MAX_ISSUES_KEPT:
            return
        shown = shown_value(value)
        message = f"{record}: {what} (value: {shown})"
        if self.explain_consequences:
            message += f"; {consequence}"
        self.kept.append(
            Issue(
                kind=kind,
                message=message + ".",
                record=record,
                account=account,
                user=user,
                field=field,
                value=shown,
            )
        )

    def with_final(self, final: Sequence[Issue]) -> tuple[list[Issue], int]:
        """The kept issues and the count of all, with issues found only at the end added.

        The log itself does not change, so the totals can be computed again.
        """
        room = max(0, MAX_ISSUES_KEPT - len(self.kept))
        return self.kept + list(final[:room]), self.count + len(final)


def response_records(body: Any, list_key: str, source: str, issues: IssueLog) -> list[Any] | None:
    """The records of one DWDI answer page (``body[list_key]``), or None after recording why not.

    :param source: names the page in the issue, e.g. ``"page 2"``.
    """
    where = source or "response"
    if not isinstance(body, Mapping):
        issues.add("malformed_entry", where, None, None, None, body, "the response is not a JSON object")
        return None
    records = body.get(list_key, _ABSENT)
    if not isinstance(records, list):
        issues.add(
            "malformed_entry",
            where,
            None,
            None,
            list_key,
            None if records is _ABSENT else records,
            f"the response has no {list_key!r} list",
        )
        return None
    return records
