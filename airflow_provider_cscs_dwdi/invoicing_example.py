"""Example downstream DAGs: one per offering, scheduled on its billing Asset (see ``assets.py``).

``dags/cscs_dwdi_invoicing_example.py`` builds them from the same offerings file as the usage
DAGs. Each run logs, and returns as XCom, what an invoicing step would receive: the extras of
the asset events that triggered it (month, usage kind, counts, ``closed``, checksum of the
billed totals), with the DAG run that pushed each. A real invoicing DAG would invoice a month
when an event says ``closed: true`` and could check the totals it reads from Waldur against
the checksum; this one only shows the hand-over.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_provider_cscs_dwdi.assets import billing_asset
from airflow_provider_cscs_dwdi.core.config import OfferingConfig, OfferingsConfig

if TYPE_CHECKING:
    from airflow.sdk import Context

INVOICING_DAG_ID_PREFIX = "cscs_dwdi_invoicing_"
# The task runner sends stdlib logging to the task log.
log = logging.getLogger(__name__)


def build_invoicing_dags(config: OfferingsConfig) -> dict[str, DAG]:
    """``{dag_id: DAG}``: the example invoicing DAG of every offering, in configuration order."""
    dags = (build_invoicing_dag(offering) for offering in config.offerings)
    return {dag.dag_id: dag for dag in dags}


def build_invoicing_dag(offering: OfferingConfig) -> DAG:
    """The example invoicing DAG of one offering: runs on each event of its billing Asset."""
    asset = billing_asset(offering)
    with DAG(
        dag_id=INVOICING_DAG_ID_PREFIX + offering.slug,
        description=f"Example: what invoicing '{offering.name}' would receive from each push",
        schedule=[asset],
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        tags=["cscs-dwdi", "example", "invoicing", offering.slug],
        doc_md=f"Runs when a push of `{offering.name}` lands in Waldur (asset `{asset.name}`, "
        f"`{asset.uri}`) and logs the events' extras.",
    ) as dag:
        # Name and URI, not the Asset: task arguments are serialized with the DAG as plain data.
        task(task_id="log_invoice_input")(_log_invoice_input)(asset_name=asset.name, asset_uri=asset.uri)
    return dag


def _log_invoice_input(asset_name: str, asset_uri: str, **context: Any) -> list[dict[str, Any]]:
    """Log and return the triggering events of the asset: their extra and the run that pushed."""
    asset = Asset(name=asset_name, uri=asset_uri)
    received = [
        {"source": f"{event.source_dag_id}/{event.source_run_id}", **dict(event.extra or {})}
        for event in _triggering_events(context, asset)
    ]
    for item in received:
        state = "closed: invoice it" if item.get("closed") else "month to date: not final"
        log.info(
            "Invoicing input for %s %s (%s): %s written, %s unchanged, %s issue(s), checksum %s, from %s",
            item.get("month"),
            item.get("usage_kind"),
            state,
            item.get("written"),
            item.get("unchanged"),
            item.get("issues"),
            item.get("checksum"),
            item["source"],
        )
    if not received:
        log.info("No event of %s triggered this run (it was triggered by hand)", asset.uri)
    return received


def _triggering_events(context: Context | dict[str, Any], asset: Asset) -> list[Any]:
    events = context.get("triggering_asset_events")
    if not events:
        return []
    try:
        return list(events[asset])  # looked up by name and URI
    except KeyError:
        return []
