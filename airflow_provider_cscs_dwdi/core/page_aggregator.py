"""What every DWDI aggregation shares: pages of records read into exact sums under one policy.

:class:`PageAggregator` holds the components, the bad-value policy, the 50-digit summing context
(its ``Inexact`` flag is watched: a sum that had to round is never billed silently), the issue log
and the quantity reader, and reads one answer page at a time (:meth:`add_response`): the page's
list of records (``body[list_key]``), each handed to the subclass's ``_add_record``. Compute usage
(``core.usage``), storage levels and inference costs (``core.resource_totals``) build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Context, Inexact, localcontext
from enum import StrEnum
from typing import Any

from airflow_provider_cscs_dwdi.core.components import ComponentConfig
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.issues import IssueLog, response_records
from airflow_provider_cscs_dwdi.core.quantities import QuantityReader

SUM_PRECISION = 50


class BadValuePolicy(StrEnum):
    """What bad DWDI values do: refuse the whole report, or leave the bad records out."""

    FAIL = "fail"
    SKIP = "skip"


class PageAggregator:
    """Reads DWDI answer pages record by record; subclasses say what a record adds.

    Subclasses set :attr:`list_key` (``"compute"``, ``"storage"``...) and implement
    :meth:`_add_record`.

    :param components: the offering's components; each reads its ``dwdi_field``.
    :param policy: what bad values do, see :class:`BadValuePolicy`.
    """

    list_key: str

    def __init__(self, components: Sequence[ComponentConfig], *, policy: BadValuePolicy) -> None:
        self.components = tuple(components)
        if not self.components:
            raise ConfigurationError("at least one component is needed to aggregate usage")
        self.policy = BadValuePolicy(policy)
        self._fields = tuple(component.dwdi_field for component in self.components)
        self._context = Context(prec=SUM_PRECISION, rounding=ROUND_HALF_UP)
        self._inexact = False
        self._issues = IssueLog(explain_consequences=self.policy is BadValuePolicy.SKIP)
        self._quantities = QuantityReader(self._fields, self._issues)
        self._pages = 0
        self._entries = 0

    def add_response(self, body: Any, *, source: str = "") -> None:
        """Add one parsed DWDI answer page; call once per page.

        :param body: the page, ideally parsed with ``json.loads(..., parse_float=Decimal)``;
            float and int values are accepted too (floats are taken by their shortest repr).
        :param source: names the page in issues, e.g. ``"page 2"``.
        """
        self._pages += 1
        records = response_records(body, self.list_key, source, self._issues)
        if records is None:
            return
        prefix = f"{source}, {self.list_key}" if source else self.list_key
        with localcontext(self._context) as context:
            for index, record in enumerate(records):
                self._entries += 1
                self._add_record(record, f"{prefix}[{index}]")
            if context.flags[Inexact]:
                self._inexact = True

    def _add_record(self, record: Any, where: str, /) -> None:
        raise NotImplementedError
