"""The two plots of an offering's page: monthly totals per component, and the current month to date.

Pure Python, imports nothing from Airflow. A series is ``{"labels": [...], "datasets": [{"name",
"values"}]}``, one dataset per component, 0.0 where a month or push lacks the component.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_cscs_dwdi.view.documents import RunRecord
from airflow_provider_cscs_dwdi.view.month_state import MonthState, pushes_of


def monthly_series(
    states: Sequence[MonthState], components: Sequence[str], labels: Mapping[str, str]
) -> dict[str, Any]:
    """What the last push of each month billed, oldest month first."""
    return {
        "labels": [state.month for state in states],
        "datasets": [
            {
                "name": labels.get(name, name),
                "values": [
                    float(state.billed[state.components.index(name)])
                    if state.billed is not None and name in state.components
                    else 0.0
                    for state in states
                ],
            }
            for name in components
        ],
    }


def month_to_date_series(
    runs: Sequence[RunRecord], current: str, components: Sequence[str], labels: Mapping[str, str]
) -> dict[str, Any]:
    """The totals each daily push of ``current`` sent, in push order."""
    daily = [
        (run, push)
        for run, push in pushes_of(runs, current)
        if run.role == "usage" and push.report is not None
    ]
    return {
        "labels": [run.at.strftime("%Y-%m-%d %H:%M") for run, _ in daily],
        "datasets": [
            {
                "name": labels.get(name, name),
                "values": [
                    float(push.report.sums[push.report.components.index(name)])
                    if push.report and name in push.report.components
                    else 0.0
                    for _, push in daily
                ],
            }
            for name in components
        ],
    }
