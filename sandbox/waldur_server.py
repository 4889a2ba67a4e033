"""The in-memory Waldur double, kept importable under its old name; it lives in :mod:`sandbox.waldur`.

``python -m sandbox.waldur_server ...`` still runs it (same arguments as ``python -m sandbox.waldur``).
"""

from __future__ import annotations

from sandbox.waldur import (
    BACKFILL_REFUSED,
    BILLING_TYPES,
    EXPIRED_TOKEN,
    INVALID_TOKEN,
    NO_CREDENTIALS,
    RESOURCE_STATES,
    RESPONSE_SCHEMA_DEVIATIONS,
    SCHEMA_PATH,
    RecordedRequest,
    WaldurSandbox,
    main,
    waldur_api_checker,
)

__all__ = [
    "BACKFILL_REFUSED",
    "BILLING_TYPES",
    "EXPIRED_TOKEN",
    "INVALID_TOKEN",
    "NO_CREDENTIALS",
    "RESOURCE_STATES",
    "RESPONSE_SCHEMA_DEVIATIONS",
    "SCHEMA_PATH",
    "RecordedRequest",
    "WaldurSandbox",
    "main",
    "waldur_api_checker",
]

if __name__ == "__main__":
    raise SystemExit(main())
