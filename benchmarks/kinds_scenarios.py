"""The scenarios of ``bench_kinds`` and the DWDI double's process (split out to keep files small).

A :class:`Kind` says what the benchmark asks DWDI for (paths, resource UUIDs), which backend_id
each key bills to and how its pages are counted and summed; :func:`serve_dwdi` runs the double
in a child process and answers the benchmark's commands.
"""

from __future__ import annotations

import resource
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from multiprocessing.connection import Connection as Pipe
from typing import Any

from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.core.inference import InferenceAggregator
from airflow_provider_cscs_dwdi.core.resource_totals import ResourceRecordAggregator
from airflow_provider_cscs_dwdi.core.storage import StorageAggregator
from airflow_provider_cscs_dwdi.hooks.dwdi import (
    DWDIHook,
    DWDIPage,
    count_inference_entries,
    count_storage_entries,
)
from sandbox.dwdi_server import DWDISandbox, InferenceDataset, StorageDataset
from sandbox.oidc_issuer import DEFAULT_CLIENTS

CONN_ID = "dwdi_bench"
CLIENT = DEFAULT_CLIENTS[0]
FILESYSTEM, DATA_TYPE = "capstor", "store"
TARGET_SECONDS = 5.0
TARGET_RSS_MIB = 300
CENT = Decimal("0.01")
STORAGE_COMPONENTS: dict[str, dict[str, str]] = {
    "storage_space": {"measured_unit": "TB", "unit_factor": "1e-12", "dwdi_field": "spaceUsed"},
    "storage_inodes": {"measured_unit": "million inodes", "unit_factor": "1e-6", "dwdi_field": "inodesUsed"},
}
INFERENCE_COMPONENTS: dict[str, dict[str, str]] = {
    "inference_cost": {"measured_unit": "CHF", "unit_factor": "1", "dwdi_field": "totalCost"},
}


@dataclass(frozen=True)
class Kind:
    """One usage kind as the benchmark drives it: what is asked for and how it is summed.

    ``keys`` are what the hook sends (paths, resource UUIDs), ``backend_ids`` maps each key to
    the Waldur backend_id the report uses, ``pages`` asks the hook for one month of them.
    """

    name: str
    item: str
    components: Mapping[str, Mapping[str, str]]
    keys: list[str]
    backend_ids: dict[str, str]
    query: Callable[[str], dict[str, Any]]
    pages: Callable[[DWDIHook, str], Iterator[DWDIPage]]
    count_entries: Callable[[bytes], int]
    aggregator: Callable[[], ResourceRecordAggregator]


def storage_kind(count: int) -> Kind:
    """``count`` project paths on capstor/store, backend_id ``sNNNNN`` each."""
    paths = {f"/capstor/store/cscs/userlab/s{n:05d}": f"s{n:05d}" for n in range(count)}
    return Kind(
        name="storage",
        item="paths",
        components=STORAGE_COMPONENTS,
        keys=list(paths),
        backend_ids=paths,
        query=lambda month: {"exact-month": month, "filesystem": FILESYSTEM, "data_type": DATA_TYPE},
        pages=lambda hook, month: hook.iter_storage_usage(
            month, list(paths), FILESYSTEM, DATA_TYPE, parse=False
        ),
        count_entries=count_storage_entries,
        aggregator=lambda: StorageAggregator(
            parse_backend_components(STORAGE_COMPONENTS),
            paths={backend_id: path for path, backend_id in paths.items()},
        ),
    )


def inference_kind(count: int) -> Kind:
    """``count`` Waldur resource UUIDs (32 hex digits, as Waldur lists them), backend_id ``iNNNNN``."""
    uuids = {uuid.uuid5(uuid.NAMESPACE_URL, f"bench/r{n:05d}").hex: f"i{n:05d}" for n in range(count)}
    return Kind(
        name="inference",
        item="resources",
        components=INFERENCE_COMPONENTS,
        keys=list(uuids),
        backend_ids=uuids,
        query=lambda month: {"from": month, "to": month},
        pages=lambda hook, month: hook.iter_inference_cost(month, month, list(uuids), parse=False),
        count_entries=count_inference_entries,
        aggregator=lambda: InferenceAggregator(
            parse_backend_components(INFERENCE_COMPONENTS), resources=uuids
        ),
    )


# ---------------------------------------------------------------------- the double's process


def serve_dwdi(
    channel: Pipe, jwks_url: str, issuer: str, paths: list[str], uuids: list[str], today: date
) -> None:
    """Child process: the DWDI double, answering ``reset`` / ``stats`` / ``expected`` / ``stop``."""
    storage = StorageDataset(paths=paths, today=today)
    inference = InferenceDataset(resource_uuids=uuids, today=today)
    with DWDISandbox(
        jwks_url=jwks_url, issuer=issuer, storage=storage, inference=inference, today=today
    ) as sandbox:
        channel.send(sandbox.url)
        cpu_at_reset = cpu_seconds()
        while (command := channel.recv()) != "stop":
            name, *args = command
            if name == "reset":
                sandbox.reset_requests()
                cpu_at_reset = cpu_seconds()
                channel.send(None)
            elif name == "stats":
                recorded = list(sandbox.requests)
                channel.send(
                    {
                        "requests": len(recorded),
                        "statuses": Counter(r.status for r in recorded),
                        "subjects": Counter(r.token_subject for r in recorded),
                        "max_url_bytes": max((r.url_length for r in recorded), default=0),
                        "cpu_seconds": cpu_seconds() - cpu_at_reset,
                    }
                )
            elif name == "expected" and args[0] == "storage":
                month = args[1]
                channel.send(
                    (
                        storage.expected_levels(month, paths, FILESYSTEM, DATA_TYPE),
                        storage.paths_without_data(month, paths, FILESYSTEM, DATA_TYPE),
                    )
                )
            elif name == "expected":
                channel.send((inference.expected_costs(args[1], args[1], uuids), []))


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (to tell work from waiting on a loaded machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
