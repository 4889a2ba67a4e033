"""The JSON Schema of the offerings file, generated from its pydantic models (``core.config``).

The schema is committed as ``airflow_provider_cscs_dwdi/dags/cscs_dwdi_offerings.schema.json``
(shipped in the wheel, written next to the example by ``python -m airflow_provider_cscs_dwdi init``,
and copied to the repository's ``dags/``) so that editors check and complete the file: the example
starts with ``# yaml-language-server: $schema=cscs_dwdi_offerings.schema.json``. A test fails when the committed copy is out of date;
write it again with::

    python -m airflow_provider_cscs_dwdi.core.config_schema > airflow_provider_cscs_dwdi/dags/cscs_dwdi_offerings.schema.json
    cp airflow_provider_cscs_dwdi/dags/cscs_dwdi_offerings.schema.json dags/

The schema checks what a key's own value must be; what depends on several keys (storage settings
only for storage offerings, unique names, a time zone that exists) is checked by
:func:`~core.config.load_config` alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from airflow_provider_cscs_dwdi.core.config import OfferingsFile

#: Where the committed schema lives, inside the package (shipped as package data).
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "dags" / "cscs_dwdi_offerings.schema.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def offerings_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the offerings file, as committed."""
    schema = OfferingsFile.model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def schema_text() -> str:
    """The schema as the committed file spells it: two-space indents, sorted nowhere, final newline."""
    return json.dumps(offerings_schema(), indent=2, ensure_ascii=False) + "\n"


#: The tables of the configuration reference, in page order: heading, where in the schema.
_REFERENCE_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Top level", ()),
    ("Offering (each item of `offerings`)", ("$defs", "OfferingConfig")),
    (
        "Component settings (each value of `backend_components`)",
        ("$defs", "OfferingConfig", "properties", "backend_components", "additionalProperties"),
    ),
    ("Storage settings (`storage`)", ("$defs", "StorageSettings")),
    ("Audit settings (`audit`)", ("$defs", "AuditSettings")),
    ("Anomaly guard settings (`anomaly_guard`)", ("$defs", "AnomalyGuardSettings")),
    (
        "Notification (each item of `notifications`, in the file and in an offering)",
        ("$defs", "NotificationSettings"),
    ),
)
REFERENCE_BEGIN = "<!-- BEGIN generated from the offerings schema (python -m airflow_provider_cscs_dwdi.core.config_schema --markdown) -->"
REFERENCE_END = "<!-- END generated from the offerings schema -->"


def reference_markdown(schema: dict[str, Any] | None = None) -> str:
    """The key tables of ``docs/configuration.md``: every key with its type, default and meaning."""
    schema = offerings_schema() if schema is None else schema
    parts = [REFERENCE_BEGIN]
    for heading, where in _REFERENCE_TABLES:
        node: Any = schema
        for key in where:
            node = node[key]
        required = set(node.get("required", ()))
        parts += [
            "",
            f"### {heading}",
            "",
            node.get("description", ""),
            "",
            "| Key | Type | Default | Meaning |",
            "| --- | --- | --- | --- |",
        ]
        for name, prop in node["properties"].items():
            default = "required" if name in required else _default_text(prop)
            meaning = prop["description"].replace("|", "\\|")
            parts.append(f"| `{name}` | {_type_text(prop, schema)} | {default} | {meaning} |")
    parts += ["", REFERENCE_END]
    return "\n".join(parts) + "\n"


def _default_text(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return "derived (see meaning)"
    default = prop["default"]
    if default is None:
        return "not set"
    if default in ([], {}):
        return "none"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def _type_text(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    """``string``, ``integer 0 to 27``, ``list of string``, ``one of `fail`, `skip```..., ``or null``."""
    if "$ref" in prop:
        target = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
        if "enum" in target:
            return "one of " + ", ".join(f"`{value}`" for value in target["enum"])
        return "mapping"
    if "anyOf" in prop:
        kinds = [_type_text(option, schema) for option in prop["anyOf"] if option.get("type") != "null"]
        text = " or ".join(kinds)
        return f"{text} or null" if len(kinds) < len(prop["anyOf"]) else text
    if "enum" in prop:
        return "one of " + ", ".join(f"`{value}`" for value in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        if "$ref" in items:
            items = schema["$defs"][items["$ref"].rsplit("/", 1)[-1]]
        if "enum" in items:
            return "list of " + ", ".join(f"`{value}`" for value in items["enum"])
        return f"list of {_type_text(items, schema)}"
    if kind == "object":
        return "mapping"
    if kind == "integer" and "minimum" in prop and "maximum" in prop:
        return f"integer {prop['minimum']} to {prop['maximum']}"
    if kind == "number":
        bounds = [
            f"{sign} {prop[key]:g}"
            for key, sign in (
                ("exclusiveMinimum", ">"),
                ("minimum", ">="),
                ("exclusiveMaximum", "<"),
                ("maximum", "<="),
            )
            if key in prop
        ]
        return " ".join(["number", ", ".join(bounds)]) if bounds else "number"
    return str(kind)


def main(argv: list[str] | None = None) -> int:
    """Print the schema (or, with ``--markdown``, the reference tables) on standard output."""
    args = sys.argv[1:] if argv is None else argv
    sys.stdout.write(reference_markdown() if args == ["--markdown"] else schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
