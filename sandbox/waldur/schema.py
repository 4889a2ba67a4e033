"""The Waldur OpenAPI subset the double checks requests (and tests check responses) against.

The checking engine is the generic :mod:`sandbox.openapi_check`; this module binds it to Waldur's
document and records where the real server's responses knowingly differ from that document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.openapi_check import OpenAPIChecker, load_checker

SCHEMA_PATH = Path(__file__).with_name("waldur-openapi-8.0.5-usage-subset.yaml")

_DECIMAL_STRING = {"type": "string", "pattern": r"^-?\d+\.\d{2}$"}
#: Where the real server's responses knowingly differ from its published schema: the usage
#: DecimalFields are declared integers but serialised as strings ("10.50"), and a user usage that
#: is not linked to an offering user has a null ``user``.
RESPONSE_SCHEMA_DEVIATIONS: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("ComponentUsage", "usage"): _DECIMAL_STRING,
    ("ComponentUserUsage", "usage"): _DECIMAL_STRING,
    ("ComponentUserUsage", "user"): {"type": "string", "format": "uri", "nullable": True},
}


def waldur_api_checker() -> OpenAPIChecker:
    """The (cached) checker for the Waldur schema, with the real server's response deviations."""
    overrides = tuple((key, json.dumps(schema)) for key, schema in RESPONSE_SCHEMA_DEVIATIONS.items())
    return load_checker(SCHEMA_PATH, overrides)
