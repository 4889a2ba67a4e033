"""Reading back what a ``dag.test()`` run left in the metadata database (the demo and the tests)."""

from __future__ import annotations

from typing import Any


def xcom_results(dag_run: Any, task_id: str, key: str = "return_value") -> list[Any]:
    """The ``key`` XComs (default: the return values) a task pushed in ``dag_run``, by map index."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel)
            .where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
            .order_by(XComModel.map_index)
        ).all()
        return [XComModel.deserialize_value(row) for row in rows]
