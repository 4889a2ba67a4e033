"""Helpers shared by the aggregation tests: parse DWDI bodies as the provider does, sum, report."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.core.issues import UsageDataError
from airflow_provider_cscs_dwdi.core.report import build_report
from airflow_provider_cscs_dwdi.core.usage import BadValuePolicy, UsageAggregator

NODE_ONLY = {"nodeHours": {"measured_unit": "node-hours", "label": "Node Hours"}}
THREE = {
    "nodeHours": {"measured_unit": "node-hours"},
    "gpuHours": {"measured_unit": "gpu-hours", "unit_factor": 0.5},
    "cpuHours": {"measured_unit": "core-hours", "unit_factor": "3.6"},
}
WINDOW = {"from": "2026-11-01", "to": "2026-11-23"}
#: An entry whose users add up to more than its explicit total (an issue).
EXCEEDING = """{"compute": [{"account": "g207", "totalNodeHours": 10,
    "users": [{"username": "alice", "nodeHours": 6}, {"username": "bob", "nodeHours": 5}]}]}"""


def dwdi(text: str) -> Any:
    """A DWDI body parsed the way the provider parses it."""
    return json.loads(text, parse_float=Decimal)


def aggregator(
    components: dict[str, Any] = NODE_ONLY, policy: str = "fail", **kwargs: Any
) -> UsageAggregator:
    return UsageAggregator(parse_backend_components(components), policy=BadValuePolicy(policy), **kwargs)


def report_json(
    agg: UsageAggregator, month: str = "2026-11", window: dict[str, str] | None = None
) -> dict[str, Any]:
    """The report of what ``agg`` summed, as the JSON document the aggregate task returns."""
    return build_report(agg.result(), month=month, window=window).to_xcom()


def report_of(
    *bodies: Any, components: dict[str, Any] = NODE_ONLY, policy: str = "fail", **kwargs: Any
) -> dict[str, Any]:
    agg = aggregator(components, policy, **kwargs)
    for index, body in enumerate(bodies):
        agg.add_response(dwdi(body) if isinstance(body, str) else body, source=f"page {index}")
    return report_json(agg, window=WINDOW)


def failure_of(*bodies: Any, **kwargs: Any) -> UsageDataError:
    with pytest.raises(UsageDataError) as caught:
        report_of(*bodies, policy="fail", **kwargs)
    return caught.value


def brief(report: dict[str, Any]) -> dict[str, Any]:
    """account -> (total, users) for compact comparisons."""
    return {name: (data["total"], data["users"]) for name, data in report["accounts"].items()}
