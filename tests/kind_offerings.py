"""Components of the storage and inference offerings the tests configure (as in the example file).

Storage is billed in TB (``spaceUsed`` bytes x 1e-12) and millions of inodes (``inodesUsed`` x
1e-6); inference bills the cost DWDI priced (``totalCost`` x 1).
"""

from __future__ import annotations

from typing import Any

STORAGE_COMPONENTS: dict[str, dict[str, Any]] = {
    "space": {
        "measured_unit": "TB",
        "unit_factor": "1e-12",
        "accounting_type": "usage",
        "label": "Space",
        "dwdi_field": "spaceUsed",
    },
    "inodes": {
        "measured_unit": "million inodes",
        "unit_factor": "0.000001",
        "accounting_type": "usage",
        "label": "Inodes",
        "dwdi_field": "inodesUsed",
    },
}
INFERENCE_COMPONENTS: dict[str, dict[str, Any]] = {
    "token_cost": {
        "measured_unit": "CHF",
        "accounting_type": "usage",
        "label": "Token cost",
        "dwdi_field": "totalCost",
    }
}
