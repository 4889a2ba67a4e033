"""DWDI API double on loopback: the stable import path and ``python -m sandbox.dwdi_server``.

The implementation lives in the :mod:`sandbox.dwdi` package (one module per concern and per
endpoint family); this module re-exports what stack.py, demo.py, the benchmarks, docker-compose
and the tests use.
"""

from __future__ import annotations

from sandbox.dwdi.cli import discover_jwks_url, generated_resource_uuids, main
from sandbox.dwdi.compute import DAY_PATH, MONTH_PATHS
from sandbox.dwdi.inference import INFERENCE_PATH
from sandbox.dwdi.inference_data import InferenceDataset
from sandbox.dwdi.replies import WWW_AUTHENTICATE
from sandbox.dwdi.server import FAMILIES, DWDISandbox, RecordedRequest
from sandbox.dwdi.storage import STORAGE_PATH
from sandbox.dwdi.storage_data import BAD_VALUES, StorageDataset, StoragePath

__all__ = [
    "BAD_VALUES",
    "DAY_PATH",
    "FAMILIES",
    "INFERENCE_PATH",
    "MONTH_PATHS",
    "STORAGE_PATH",
    "WWW_AUTHENTICATE",
    "DWDISandbox",
    "InferenceDataset",
    "RecordedRequest",
    "StorageDataset",
    "StoragePath",
    "discover_jwks_url",
    "generated_resource_uuids",
    "main",
]

if __name__ == "__main__":
    raise SystemExit(main())
