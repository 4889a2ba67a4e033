"""What crosses the DAG boundary: the part of an offering each task needs, one model each way.

Operator arguments are serialised with the DAG, so they must be plain JSON. The DAG factory hands
each operator ``Model.of(offering).model_dump(mode="json")`` as keyword arguments, and the operator
reads its (rendered) arguments back with the same model in ``execute``
(:func:`read_task_settings`), so the rules of a value are declared once, on the offering's types,
whichever side of the boundary reads it:

- :class:`WaldurTarget`: every task that reads or writes the Waldur offering;
- :class:`DwdiSource`: the ``fetch_usage`` task (where and how to ask DWDI, where to archive);
- :class:`Aggregation`: the tasks that turn an archive into a report (aggregate, audit).

A value that does not read back (an operator built by hand with a wrong argument, or a template
that rendered to something else) raises :class:`~core.errors.ConfigurationError` naming the
argument, e.g. ``billing_timezone: unknown time zone 'Mars/Base'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from airflow_provider_cscs_dwdi.core.components import BackendComponents, ComponentConfig, components_of
from airflow_provider_cscs_dwdi.core.config import BadValuePolicySetting, OfferingConfig, UsageKindSetting
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import StorageSettings
from airflow_provider_cscs_dwdi.core.types import (
    ClusterNames,
    ConnectionId,
    NonEmptyText,
    TimeZoneName,
    WaldurUuid,
)
from airflow_provider_cscs_dwdi.core.validation import explain

__all__ = ["Aggregation", "DwdiSource", "TaskSettings", "WaldurTarget", "read_task_settings"]


class TaskSettings(BaseModel):
    """The arguments one task takes from its offering (frozen; unknown arguments are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def of(cls, offering: OfferingConfig) -> Self:
        """This task's part of ``offering`` (already checked when the offerings file was read)."""
        return cls.model_validate({name: getattr(offering, name) for name in cls.model_fields})

    def arguments(self) -> dict[str, Any]:
        """The operator keyword arguments: the model's JSON (what the serialised DAG carries)."""
        return self.model_dump(mode="json")


class WaldurTarget(TaskSettings):
    """The Waldur offering a task reads or writes, and the time zone of its billing months."""

    waldur_conn_id: ConnectionId
    # None only for a task built by hand that needs no offering (see PlanBillingRunOperator).
    offering_uuid: WaldurUuid | None = None
    billing_timezone: TimeZoneName


class DwdiSource(TaskSettings):
    """What the ``fetch_usage`` task asks DWDI for, and where it archives the answers."""

    dwdi_conn_id: ConnectionId
    usage_kind: UsageKindSetting
    clusters: ClusterNames | None = None
    billing_timezone: TimeZoneName
    archive_path: NonEmptyText | None = None
    storage: StorageSettings | None = None


class Aggregation(TaskSettings):
    """How an archive of DWDI answers becomes a report: components, bad values, clusters."""

    backend_components: BackendComponents
    bad_value_policy: BadValuePolicySetting
    clusters: ClusterNames | None = None

    @property
    def components(self) -> tuple[ComponentConfig, ...]:
        """``backend_components``, parsed once."""
        return components_of(self.backend_components)


Settings = TypeVar("Settings", bound=TaskSettings)


def read_task_settings(model: type[Settings], arguments: Mapping[str, Any]) -> Settings:
    """An operator's (rendered) arguments read back with ``model``.

    :raises ConfigurationError: naming the first argument that does not read, in the offerings
        file's words.
    """
    try:
        return model.model_validate(dict(arguments))
    except ValidationError as error:
        raise ConfigurationError(explain(error, model)) from None
