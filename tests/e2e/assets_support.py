"""Reading back the asset events a ``dag.test()`` run emitted, from the metadata DB."""

from __future__ import annotations

from typing import Any


def asset_events(dag_run: Any) -> list[dict[str, Any]]:
    """``{"name", "uri", "extra"}`` of every asset event ``dag_run`` emitted, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetModel.uri, AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_dag_id == dag_run.dag_id, AssetEvent.source_run_id == dag_run.run_id)
            .order_by(AssetEvent.id)
        ).all()
        return [{"name": name, "uri": uri, "extra": dict(extra or {})} for name, uri, extra in rows]
