"""What Waldur must hold for a month, per usage kind, from the DWDI double's own served rows.

The sandbox's truth, independent of the provider's core: the datasets sum their own rows with
Decimal (``DwdiDataset.expected_totals``, ``StorageDataset.expected_levels``,
``InferenceDataset.expected_costs``), and this module only multiplies by ``unit_factor`` and
rounds half up to cents once. ``Totals`` is ``{backend_id: {"total": {component: amount},
"users": {username: {component: amount}}}}``; an amount of None means "Waldur must hold nothing"
(a storage path DWDI does not return, a record with a bad value under the skip policy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from airflow_provider_cscs_dwdi.core.components import ComponentConfig
from sandbox.dwdi.inference_data import InferenceDataset, uuid_identity
from sandbox.dwdi.storage_data import StorageDataset
from sandbox.dwdi_data import DwdiDataset

CENT = Decimal("0.01")

Totals = dict[str, dict[str, Any]]


def billed(amount: Decimal, unit_factor: Decimal) -> Decimal:
    """``amount x unit_factor``, rounded half up to cents once."""
    return (amount * unit_factor).quantize(CENT, rounding=ROUND_HALF_UP)


def _nothing(components: Sequence[ComponentConfig]) -> dict[str, Any]:
    return {"total": {component.type: None for component in components}, "users": {}}


def _resource_total(
    components: Sequence[ComponentConfig], raw: Mapping[str, Decimal] | None
) -> dict[str, Any]:
    """One resource's billed totals from its raw values by DWDI field; None: nothing expected."""
    if raw is None:
        return _nothing(components)
    total = {
        component.type: billed(raw[component.dwdi_field], component.unit_factor) for component in components
    }
    return {"total": total, "users": {}}


def expected_compute(
    dataset: DwdiDataset,
    month: str,
    accounts: Sequence[str],
    components: Sequence[ComponentConfig],
    clusters: Sequence[str] | None,
) -> Totals:
    """Compute: every account's totals (0.00 without data) and its users' amounts."""
    raw = dataset.expected_totals(month, accounts=accounts, clusters=clusters)
    expected: Totals = {}
    for account in accounts:
        data = raw.get(account, {"total": {}, "users": {}})
        total = {
            component.type: billed(data["total"].get(component.dwdi_field, Decimal(0)), component.unit_factor)
            for component in components
        }
        users: dict[str, dict[str, Decimal]] = {}
        for username, fields in data["users"].items():
            for component in components:
                if component.dwdi_field in fields:
                    users.setdefault(username, {})[component.type] = billed(
                        fields[component.dwdi_field], component.unit_factor
                    )
        expected[account] = {"total": total, "users": users}
    return expected


def expected_storage(
    dataset: StorageDataset,
    month: str,
    paths: Mapping[str, str],
    components: Sequence[ComponentConfig],
    filesystem: str,
    data_type: str,
) -> Totals:
    """Storage: each backend ID's level on its path; nothing for a path without (good) data."""
    levels = dataset.expected_levels(month, list(paths.values()), filesystem, data_type)
    return {backend_id: _resource_total(components, levels.get(path)) for backend_id, path in paths.items()}


def expected_inference(
    dataset: InferenceDataset,
    month: str,
    resources: Mapping[str, str],
    components: Sequence[ComponentConfig],
) -> Totals:
    """Inference: each backend ID's summed cost (0.00 without entries); nothing for a bad one.

    :param resources: ``{backend_id: Waldur resource uuid}``.
    """
    costs = dataset.expected_costs(month, month, list(resources.values()))
    expected: Totals = {}
    for backend_id, resource_uuid in resources.items():
        cost = costs.get(uuid_identity(resource_uuid))
        raw = None if cost is None else {component.dwdi_field: cost for component in components}
        expected[backend_id] = _resource_total(components, raw)
    return expected


def differences(expected: Mapping[str, Any], landed: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two ``Totals``; empty when Waldur holds exactly the truth.

    An expected None must be absent from Waldur. A user whose expected amount is 0.00 may be
    absent in Waldur (nothing to bill).
    """
    problems: list[str] = []
    for account, want in expected.items():
        got = landed.get(account, {"total": {}, "users": {}})
        for component, amount in want["total"].items():
            held = got["total"].get(component)
            if not same_amount(amount, held):
                wanted = "nothing" if amount is None else amount
                problems.append(f"{account} {component}: expected {wanted}, Waldur holds {held}")
        for username, amounts in want["users"].items():
            for component, amount in amounts.items():
                held = got["users"].get(username, {}).get(component)
                if (held is None and amount != 0) or (held is not None and Decimal(held) != amount):
                    problems.append(
                        f"{account} {username} {component}: expected {amount}, Waldur holds {held}"
                    )
        for username in set(got["users"]) - set(want["users"]):
            problems.append(f"{account} {username}: in Waldur but not in DWDI")
    return problems


def same_amount(expected: Decimal | None, held: Decimal | str | None) -> bool:
    """A total Waldur holds is right: equal as a Decimal, or both absent."""
    if expected is None or held is None:
        return expected is None and held is None
    return Decimal(held) == expected
