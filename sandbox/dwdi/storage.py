"""The storage endpoint of the DWDI double (dwdi-api.md, "Storage usage").

``GET /api/v1/storage/usage-month``: ``exact-month`` = ``YYYY-MM`` (required), repeated ``paths``
(absent: every path), ``filesystem`` and ``data_type`` (optional filters). Answers
``{"storage": [...]}`` with one entry per requested path that has data in that month.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.dwdi import query as q
from sandbox.dwdi.storage_data import StorageDataset

STORAGE_PATH = "/api/v1/storage/usage-month"


def storage_entries(query: Mapping[str, list[str]], dataset: StorageDataset | None) -> list[dict[str, Any]]:
    """The ``storage`` list answering ``query`` (empty without a dataset)."""
    month = q.month(query, "exact-month")
    filesystem, data_type = q.optional(query, "filesystem"), q.optional(query, "data_type")
    if dataset is None:
        return []
    return dataset.entries(month, query.get("paths"), filesystem, data_type)
