"""Helpers for templated operator params: a rendered param arrives as text, or as nothing.

The DAG renders templates as native objects, but a param left empty in the trigger form, or a
DAG that renders text, still hands ``""``, ``"None"``, ``"True"`` or ``'["g1"]'`` to an operator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.task_settings import Settings, read_task_settings

if TYPE_CHECKING:
    from airflow.sdk import Context


def blank_to_none(value: Any) -> Any:
    """A templated param that rendered empty: None, "" or the text "None" mean "not given"."""
    return None if value is None or str(value).strip() in ("", "None") else value


def normalise_accounts(accounts: Sequence[str] | str | None) -> list[str] | None:
    """Sorted unique account names; None means "every account DWDI knows".

    A string is accepted as a JSON list or a comma-separated list because templated fields render
    to text unless the DAG renders native objects.
    """
    if accounts is None or blank_to_none(accounts) is None:
        return None
    if isinstance(accounts, str):
        text = accounts.strip()
        parsed = json.loads(text) if text.startswith("[") else text.split(",")
    else:
        parsed = list(accounts)
    names: set[str] = set()
    for item in parsed:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"accounts: every account must be a non-empty string, got {item!r}")
        names.add(item.strip())
    return sorted(names)


def as_bool(value: bool | str | None, name: str) -> bool:
    """A flag given as a bool or as a rendered template (``"True"``/``"False"``)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise AirflowException(f"{name} must be True or False, got {value!r}")


def _arguments_of(operator: object, model: type[Settings]) -> dict[str, Any]:
    # The operator keeps each argument under the field's name, so templates render in place.
    return {name: getattr(operator, name) for name in model.model_fields}


def check_arguments(operator: object, model: type[Settings]) -> None:
    """At construction: the operator's arguments read with ``model``, so a wrong one breaks the
    DAG import, not a run (a template still unrendered reads as text).

    :raises ConfigurationError: naming the argument.
    """
    read_task_settings(model, _arguments_of(operator, model))


def read_arguments(operator: object, model: type[Settings]) -> Settings:
    """In ``execute``: the operator's rendered arguments read back with the model the DAG factory
    dumped them with.

    :raises AirflowFailException: naming the argument that does not read (a retry would read the
        same arguments).
    """
    try:
        return read_task_settings(model, _arguments_of(operator, model))
    except ConfigurationError as error:
        raise AirflowFailException(f"Nothing was done: {error}") from None


def run_instant(context: Context) -> datetime:
    """The moment a run stands for: the end of its data interval, or when it was triggered."""
    instant = context.get("data_interval_end") or context["dag_run"].run_after
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
