"""The inference endpoint of the DWDI double (dwdi-api.md, "Inference cost").

``GET /api/v1/inference/resource/cost``: ``from``, ``to`` = ``YYYY-MM`` (inclusive), repeated
``resource_uuid`` (absent: every resource; dashed or not). Answers ``{"inference": [...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.dwdi import query as q
from sandbox.dwdi.inference_data import InferenceDataset, uuid_identity

INFERENCE_PATH = "/api/v1/inference/resource/cost"


def inference_entries(
    query: Mapping[str, list[str]], dataset: InferenceDataset | None
) -> list[dict[str, Any]]:
    """The ``inference`` list answering ``query`` (empty without a dataset)."""
    months = q.months(query)
    uuids = query.get("resource_uuid")
    for value in uuids or ():
        try:
            uuid_identity(value)
        except ValueError:
            raise q.QueryError(f"query parameter 'resource_uuid' must be a UUID, got {value!r}") from None
    if dataset is None:
        return []
    return dataset.entries(months[0], months[-1], uuids)
