"""What storage and inference aggregation share: one DWDI record per resource, no users.

A storage answer (``{"storage": [{"path": ..., "spaceUsed": ..., "inodesUsed": ...}]}``) and an
inference answer (``{"inference": [{"waldurResourceUuid": ..., "totalCost": ...}]}``) are lists
of records, each naming its resource by a key field and carrying one value per component.
:class:`ResourceRecordAggregator` reads those pages, checks every value with
``core.quantities`` (a bad value never becomes zero) and leaves what a record means to its
subclass: a storage level (``core.storage``) or an additive cost (``core.inference``).

Under the ``skip`` policy a resource with any bad record is left out whole (not written, listed
as an issue): a level or a cost with one part missing would be a wrong number on an invoice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, localcontext
from typing import Any

from airflow_provider_cscs_dwdi.core.components import ComponentConfig
from airflow_provider_cscs_dwdi.core.issues import UsageDataError
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.page_aggregator import PageAggregator
from airflow_provider_cscs_dwdi.core.usage import (
    SUM_PRECISION,
    AccountUsage,
    AggregatedUsage,
    BadValuePolicy,
    billed_amount,
    billing_context,
)

_MISSING: Any = object()


class ResourceRecordAggregator(PageAggregator):
    """Streams DWDI storage or inference pages into per-resource values (no per-user breakdown).

    Subclasses set :attr:`usage_kind`, :attr:`list_key` (``"storage"``) and :attr:`key_field`
    (``"path"``), and implement :meth:`_resource_of` (which resource a record's key belongs to)
    and :meth:`_add_values` (what a record's values do to that resource).

    :param components: the offering's components; each reads its ``dwdi_field`` of every record.
    :param policy: what bad values do, see :class:`~core.usage.BadValuePolicy`.
    """

    usage_kind: UsageKind
    list_key: str
    key_field: str

    def __init__(self, components: Sequence[ComponentConfig], *, policy: BadValuePolicy) -> None:
        super().__init__(components, policy=policy)
        #: Raw (DWDI-unit) values by backend_id, one slot per component.
        self._values: dict[str, list[Decimal]] = {}
        #: Resources with a bad record: never billed this month, whatever their other records say.
        self._left_out: set[str] = set()
        self._ignored: set[str] = set()

    def _add_record(self, record: Any, where: str) -> None:
        if not isinstance(record, Mapping):
            self._issues.add(
                "malformed_entry", where, None, None, None, record, "the record is not a JSON object"
            )
            return
        key = record.get(self.key_field, _MISSING)
        backend_id = self._resource_of(key, where)
        if backend_id is None:
            return
        values: list[Decimal] = []
        for field in self._fields:
            value = record.get(field, _MISSING)
            if value is _MISSING:
                self._issues.add(
                    "missing_value",
                    where,
                    backend_id,
                    None,
                    field,
                    None,
                    f"{field} of {self.key_field} {key!r} is missing",
                    consequence="the resource is not written this month",
                )
                number = None
            else:
                number = self._quantities.quantity(
                    value,
                    where,
                    backend_id,
                    None,
                    field,
                    consequence="the resource is not written this month",
                )
            if number is None:
                self._left_out.add(backend_id)
                return
            values.append(number)
        self._add_values(backend_id, values, where, key)

    def _resource_of(self, key: Any, where: str) -> str | None:
        """The backend_id a record belongs to, or None after recording why it is not billed."""
        raise NotImplementedError

    def _add_values(self, backend_id: str, values: list[Decimal], where: str, key: Any) -> None:
        """Take a good record's raw values, one per component, into the resource's values."""
        raise NotImplementedError

    def _missing_key(self, key: Any, where: str) -> None:
        self._issues.add(
            "missing_key",
            where,
            None,
            None,
            self.key_field,
            None if key is _MISSING else key,
            f"the record has no usable {self.key_field}",
            consequence="the record is left out",
        )

    def _billed(self, backend_ids: Sequence[str], *, zero_without_data: bool) -> dict[str, AccountUsage]:
        """Billed amounts of these resources: raw value times ``unit_factor``, half up to cents once."""
        if self._inexact:
            raise UsageDataError(
                f"DWDI values too large or too precise to sum exactly in {SUM_PRECISION} digits; "
                "the month cannot be billed."
            )
        zero = {component.type: "0.00" for component in self.components}
        accounts: dict[str, AccountUsage] = {}
        with localcontext(billing_context(self.components)):
            for backend_id in backend_ids:
                if backend_id in self._left_out:
                    continue
                raw = self._values.get(backend_id)
                if raw is not None:
                    total = {
                        component.type: billed_amount(value, component.unit_factor)
                        for component, value in zip(self.components, raw, strict=True)
                    }
                    accounts[backend_id] = {"total": total, "users": {}}
                elif zero_without_data:
                    accounts[backend_id] = {"total": dict(zero), "users": {}}
        return accounts

    def _result(
        self, accounts: dict[str, AccountUsage], *, without_data: Sequence[str] = ()
    ) -> AggregatedUsage:
        issues, issue_count = self._issues.with_final(())
        return AggregatedUsage(
            components=self.components,
            policy=self.policy,
            accounts=accounts,
            accounts_with_data=sum(1 for name in accounts if name in self._values),
            ignored_accounts=tuple(sorted(self._ignored)),
            issues=tuple(issues),
            issue_count=issue_count,
            pages=self._pages,
            entries=self._entries,
            entries_filtered=0,
            user_rows=0,
            rows_skipped=len(self._left_out),
            usage_kind=self.usage_kind.value,
            without_data=tuple(without_data),
        )
