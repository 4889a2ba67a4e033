"""Amounts as Waldur takes them, and what Waldur can store: the ceiling of a ``set_usage`` amount.

A small room of its own because three floors need the number: the write planner refuses amounts
above it, the Waldur connection lets an operator lower it (``max_usage_amount``), and the
connection form shows it as the default. None of them should stand on the others for a constant.
The refusal needs the report's amounts parsed, so the parsing and formatting of 2-decimal amounts
live here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError, ReportError

if TYPE_CHECKING:
    from airflow_provider_cscs_dwdi.core.report import UsageReport

_CENT = Decimal("0.01")

#: The largest ``set_usage`` amount Waldur stores: 7.0.7 answers 500 from 10^12 on (invoice item
#: quantity overflow, the write rolled back) and 400 from 10^18 on (more than 20 digits).
DEFAULT_MAX_USAGE_AMOUNT = Decimal("999999999999.99")


class UnstorableAmountError(CscsDwdiError):
    """The report holds totals Waldur cannot store: nothing of the push may be written.

    ``lines`` names each one: account (the resource's backend_id), component, value, unit_factor;
    ``totals`` holds them as ``(backend_id, component, amount)`` and ``max_usage_amount`` the ceiling.
    """

    def __init__(
        self,
        message: str,
        lines: Sequence[str],
        totals: Sequence[tuple[str, str, Decimal]] = (),
        max_usage_amount: Decimal = DEFAULT_MAX_USAGE_AMOUNT,
    ) -> None:
        super().__init__(message)
        self.lines = tuple(lines)
        self.totals = tuple(totals)
        self.max_usage_amount = max_usage_amount


def refuse_unstorable_amounts(
    report: UsageReport, *, max_usage_amount: Decimal = DEFAULT_MAX_USAGE_AMOUNT, offering: str
) -> None:
    """Refuse the whole report when a total is above what Waldur can store, naming every one.

    Called before any request of a push: under either bad value policy such a total is an error of
    the push, never a value to skip, because leaving a resource's month unbilled is as wrong as
    billing it wrongly. Only totals are checked: a user usage is part of its account's total.

    :param report: the aggregated report (amounts already validated as 2-decimal strings).
    :param max_usage_amount: the largest total Waldur can store.
    :param offering: how the message names the offering (its name or uuid, and the DAG).
    :raises UnstorableAmountError: listing offering, account, component, value and unit_factor.
    """
    lines = []
    unstorable = []
    for backend_id, account in sorted(report.accounts.items()):
        totals = parse_amounts(account.get("total", {}), f"accounts.{backend_id}.total")
        for component_type, amount in totals.items():
            if abs(amount) > max_usage_amount:
                lines.append(_unstorable_line(report, backend_id, component_type, amount))
                unstorable.append((backend_id, component_type, amount))
    if lines:
        raise UnstorableAmountError(
            f"Nothing of {report.month} was written to {offering}: {len(lines)} total(s) are above "
            f"{format_amount(max_usage_amount)}, the most Waldur can store (the Waldur connection's "
            "max_usage_amount; Waldur 7.0.7 answers 500 from 10^12 on):\n" + "\n".join(lines),
            lines,
            unstorable,
            max_usage_amount,
        )


def _unstorable_line(report: UsageReport, backend_id: str, component_type: str, amount: Decimal) -> str:
    """One over-ceiling total, with what the component's unit_factor makes of DWDI's unit."""
    component = report.components.get(component_type, {})
    unit_factor = component.get("unit_factor", "?")
    measured_unit = component.get("measured_unit", "?")
    dwdi_field = component.get("dwdi_field", component_type)
    return (
        f"  resource {backend_id}, component {component_type}: {format_amount(amount)} {measured_unit} "
        f"(DWDI field {dwdi_field} x unit_factor {unit_factor}). Is unit_factor right? A value this "
        "large usually means DWDI's unit is billed unconverted, e.g. bytes with unit_factor 1 where "
        "TB needs 1e-12."
    )


def format_amount(amount: Decimal) -> str:
    """An amount the way Waldur takes it: a string with exactly two decimals."""
    return str(amount.quantize(_CENT))


def parse_amounts(raw: Any, path: str) -> dict[str, Decimal]:
    """Parse a ``{component: "12.30"}`` object of the report; a bad value is a ReportError."""
    if not isinstance(raw, Mapping):
        raise ReportError(f"{path}: expected an object of amounts, got {type(raw).__name__}")
    amounts: dict[str, Decimal] = {}
    for component_type, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (str, Decimal, int)):
            raise ReportError(f"{path}.{component_type}: expected a decimal string, got {value!r}")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ReportError(f"{path}.{component_type}: {value!r} is not a number") from None
        if not amount.is_finite() or amount != amount.quantize(_CENT):
            raise ReportError(f"{path}.{component_type}: {value!r} is not an amount with 2 decimals")
        amounts[component_type] = amount
    return amounts
