"""OpenLineage for the fetch, aggregate and push tasks, built only when the OpenLineage provider asks.

Nothing here imports ``airflow.providers.openlineage`` or ``openlineage`` at module level: the
operators call :func:`operator_lineage` from ``get_openlineage_facets_on_complete``, which only
the OpenLineage listener calls, so the provider works without the ``[openlineage]`` extra.

Datasets, named as the OpenLineage naming conventions name HTTP APIs and object stores:

* DWDI: namespace ``https://dwdi.example:443`` (no credentials), name ``<path>?month=YYYY-MM``;
* the archive: namespace ``file`` or ``s3://bucket``, name the path;
* Waldur: namespace ``https://waldur.example:443``, name
  ``/api/marketplace-provider-offerings/<offering uuid>/``.

The counts travel in one run facet, ``cscsDwdi`` (:func:`usage_run_facet`): the month, the usage
kind and the task's counts, never an amount, a token or a secret.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow_provider_cscs_dwdi.core.xcom import PushResult, UsageReport

#: The key of the run facet that carries the counts.
RUN_FACET_NAME = "cscsDwdi"
FACET_SCHEMA_URL = (  # a RunFacet with its own properties
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"
)


@dataclass(frozen=True)
class LineageDataset:
    """One dataset of a task, and the size it read or wrote (``None``: not known)."""

    namespace: str
    name: str
    row_count: int | None = None
    size_bytes: int | None = None


@dataclass
class TaskLineage:
    """What a task read, wrote and counted; kept on the operator by ``execute`` for the listener."""

    month: str
    usage_kind: str
    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: list[LineageDataset] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def is_count(value: Any) -> bool:
    """A whole number that is a count (a flag such as ``dry_run`` is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def http_namespace(url: str) -> str:
    """``scheme://host:port`` of ``url``: user and password (if any) are left out."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def dwdi_dataset(api_url: str, endpoint_path: str, month: str) -> LineageDataset:
    """The DWDI endpoint asked for one month."""
    prefix = urlsplit(api_url).path.rstrip("/")
    return LineageDataset(http_namespace(api_url), f"{prefix}{endpoint_path}?month={month}")


def archive_dataset(
    archive_url: str, *, entries: int | None = None, size_bytes: int | None = None
) -> LineageDataset:
    """The archive of DWDI's answers (``file:///...`` or ``s3://conn_id@bucket/key``)."""
    parts = urlsplit(archive_url)
    if parts.scheme in ("", "file"):
        return LineageDataset("file", parts.path, entries, size_bytes)
    # ``conn_id@bucket``: the Airflow connection id is where credentials come from, not a name.
    bucket = parts.netloc.rsplit("@", 1)[-1]
    return LineageDataset(f"{parts.scheme}://{bucket}", parts.path.lstrip("/"), entries, size_bytes)


def waldur_offering_dataset(
    api_url: str, offering_uuid: str, *, written: int | None = None
) -> LineageDataset:
    """The Waldur offering whose resources the push writes."""
    prefix = urlsplit(api_url).path.rstrip("/")
    return LineageDataset(
        http_namespace(api_url), f"{prefix}/marketplace-provider-offerings/{offering_uuid}/", written
    )


def written_lineage(result: PushResult, report: UsageReport, api_url: str, offering_uuid: str) -> TaskLineage:
    """What a write to Waldur (push or repair) produced: the offering out, the result's counts."""
    return TaskLineage(
        month=result.month,
        usage_kind=report.usage_kind,
        outputs=[waldur_offering_dataset(api_url, offering_uuid, written=result.written)],
        counts={name: value for name, value in result.counts().items() if is_count(value)},
    )


@functools.cache
def _usage_run_facet_class() -> type:
    """The ``cscsDwdi`` run facet class, defined on first use (it needs openlineage-python)."""
    import attr
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class CscsDwdiRunFacet(RunFacet):
        """The billing month, the usage kind and the task's counts."""

        month: str
        usageKind: str
        counts: dict[str, int] = attr.field(factory=dict)
        # Counts and months are not secrets: the log masker must not blank them.
        _additional_skip_redact: ClassVar[list[str]] = ["month", "usageKind", "counts"]

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA_URL

    return CscsDwdiRunFacet


def usage_run_facet(lineage: TaskLineage) -> Any:
    """The ``cscsDwdi`` run facet of ``lineage``."""
    return _usage_run_facet_class()(
        month=lineage.month, usageKind=lineage.usage_kind, counts=dict(lineage.counts)
    )


def operator_lineage(lineage: TaskLineage | None) -> Any:
    """``lineage`` as the OpenLineage provider's ``OperatorLineage`` (empty when the task kept none)."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import input_statistics_input_dataset, output_statistics_output_dataset

    if lineage is None:
        return OperatorLineage()

    def statistics(dataset: LineageDataset, name: str, facet_class: type) -> dict[str, Any]:
        """``{name: facet}`` with the dataset's row count and size, or nothing when neither is known."""
        if dataset.row_count is None and dataset.size_bytes is None:
            return {}
        return {name: facet_class(rowCount=dataset.row_count, size=dataset.size_bytes)}

    inputs = [
        InputDataset(
            namespace=item.namespace,
            name=item.name,
            inputFacets=statistics(
                item, "inputStatistics", input_statistics_input_dataset.InputStatisticsInputDatasetFacet
            ),
        )
        for item in lineage.inputs
    ]
    outputs = [
        OutputDataset(
            namespace=item.namespace,
            name=item.name,
            outputFacets=statistics(
                item, "outputStatistics", output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
            ),
        )
        for item in lineage.outputs
    ]
    return OperatorLineage(
        inputs=inputs, outputs=outputs, run_facets={RUN_FACET_NAME: usage_run_facet(lineage)}
    )
