"""Check HTTP requests (and, in tests, responses) against an OpenAPI 3.0 document, fast.

openapi-core does the same job but costs several milliseconds per request, too much for a sandbox
that a benchmark hits thousands of times. Here every schema is compiled once: ``$ref`` pointers
are inlined, each body and query parameter gets a ready ``jsonschema`` validator, and a check is a
dictionary lookup plus one validation call per value (well under a millisecond). Where the schema
allows, a compiled pre-check (:mod:`sandbox._fast_schema`) first answers "certainly valid" for a
fraction of that; whatever it does not pass goes to ``jsonschema``, which reports the problems.

What is checked, following OpenAPI 3.0 semantics:
- the path matches a path template and the method is declared for it; path parameters;
- query parameters: unknown names are refused (the real server would silently ignore them, which
  hides client typos), scalars given more than once are refused, ``explode: false`` arrays are
  split on commas, values are coerced by the declared type (integer, number, boolean) and then
  validated (formats and enums included);
- the JSON body: required or not, must parse, must satisfy the request schema (``readOnly``
  properties are refused in requests, as OpenAPI says).

Formats: ``uuid`` accepts Waldur's undashed 32-hex form as well as the dashed one (the server uses
Django's UUID parsing), ``uri`` requires a scheme and a host, ``decimal`` is left to the pattern.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker

from sandbox._fast_schema import Predicate, compile_write_precheck

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_INTEGER_TEXT = re.compile(r"^-?\d+$")


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


#: A scheme, "://" and a whole netloc of plain ASCII: urlsplit certainly finds both non-empty
#: (no stripped or removed characters, no brackets that it could refuse as IPv6). Checking this
#: first spares urlsplit for the 20 user links of every set_user_usages body.
_PLAIN_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\[\]\x00-\x20\x7f-\U0010ffff]+(?:[/?#]|\Z)")


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if _PLAIN_URI.match(value):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


def _build_format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = dict(oas30_format_checker.checkers)
    checker.checks("uuid")(_is_uuid)
    checker.checks("uri")(_is_uri)
    return checker


_FORMAT_CHECKER = _build_format_checker()


def _inline_refs(node: Any, document: Mapping[str, Any], trail: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` replaced by a copy of its (recursively inlined) target."""
    if isinstance(node, list):
        return [_inline_refs(item, document, trail) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str):
        if reference in trail:
            raise ValueError(f"recursive $ref {reference!r} cannot be inlined")
        target: Any = document
        for part in reference.removeprefix("#/").split("/"):
            target = target[part]
        # OpenAPI 3.0 ignores the siblings of a $ref, so the target replaces the whole node.
        return _inline_refs(target, document, (*trail, reference))
    return {key: _inline_refs(value, document, trail) for key, value in node.items()}


def _format_error(where: str, error: ValidationError) -> str:
    location = where + "".join(f"[{part!r}]" for part in error.absolute_path)
    # jsonschema lists every allowed value of an enum; some enums here have 80 members.
    message = f"{error.instance!r} is not an allowed value" if error.validator == "enum" else error.message
    return f"{location}: {message}"


@dataclass(frozen=True)
class SchemaCheck:
    """A compiled request validator plus, where the schema allows, its cheap pre-check."""

    validator: Validator
    precheck: Predicate | None

    @classmethod
    def for_requests(cls, schema: Mapping[str, Any]) -> SchemaCheck:
        """The write validator of ``schema`` (what a request may send), with its pre-check."""
        return cls(
            OAS30WriteValidator(schema, format_checker=_FORMAT_CHECKER),
            compile_write_precheck(schema, _FORMAT_CHECKER),
        )

    def errors(self, instance: Any, where: str) -> list[str]:
        """Every way ``instance`` breaks the schema (empty when it conforms)."""
        if self.precheck is not None and self.precheck(instance):
            return []  # certainly valid; anything else gets jsonschema's full verdict and messages
        return _errors(self.validator, instance, where)


def _errors(validator: Validator, instance: Any, where: str) -> list[str]:
    return [_format_error(where, error) for error in validator.iter_errors(instance)]


@dataclass(frozen=True)
class QueryParameter:
    """One declared query parameter with its compiled validator."""

    name: str
    schema: Mapping[str, Any]
    check: SchemaCheck
    is_array: bool
    explode: bool

    def coerce(self, values: list[str]) -> tuple[Any, list[str]]:
        """The typed value of the raw query ``values`` plus problems found while splitting them."""
        if self.is_array:
            item_schema = self.schema.get("items", {})
            if self.explode:
                raw_items = values
            elif len(values) > 1:
                return None, [
                    f"query parameter {self.name!r}: comma-separated, but given {len(values)} times"
                ]
            else:
                raw_items = values[0].split(",")
            return [_coerce_scalar(item, item_schema) for item in raw_items], []
        if len(values) > 1:
            return None, [f"query parameter {self.name!r}: a single value, but given {len(values)} times"]
        return _coerce_scalar(values[0], self.schema), []


def _coerce_scalar(text: str, schema: Mapping[str, Any]) -> Any:
    """Convert query text by the declared type; text that does not convert stays text (and fails)."""
    declared = schema.get("type")
    if declared == "integer" and _INTEGER_TEXT.match(text):
        return int(text)
    if declared == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        return number if number.is_finite() else text
    if declared == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


@dataclass(frozen=True)
class Operation:
    """One (method, path template) of the document, with everything needed to check a request."""

    method: str
    template: str
    path_pattern: re.Pattern[str]
    path_parameters: Mapping[str, SchemaCheck]
    query_parameters: Mapping[str, QueryParameter]
    body_check: SchemaCheck | None
    body_required: bool
    response_validators: Mapping[str, Validator] = field(default_factory=dict)


def _template_pattern(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


def _json_body_schema(container: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not container:
        return None
    return container.get("content", {}).get("application/json", {}).get("schema")


class OpenAPIChecker:
    """Compiled request/response checks for every operation of an OpenAPI 3.0 document.

    ``response_overrides`` patches response schemas only: ``{("SchemaName", "property"): schema}``
    replaces that property's schema when responses are checked (used to document where a real
    server knowingly deviates from its published schema).
    """

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        response_overrides: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    ) -> None:
        response_document = copy.deepcopy(dict(document))
        for (schema_name, property_name), schema in (response_overrides or {}).items():
            response_document["components"]["schemas"][schema_name]["properties"][property_name] = dict(
                schema
            )
        self._operations: list[Operation] = []
        for template, path_item in document["paths"].items():
            for method in _HTTP_METHODS:
                if method in path_item:
                    self._operations.append(
                        self._compile_operation(
                            method.upper(), template, path_item, document, response_document
                        )
                    )

    @staticmethod
    def _compile_operation(
        method: str,
        template: str,
        path_item: Mapping[str, Any],
        document: Mapping[str, Any],
        response_document: Mapping[str, Any],
    ) -> Operation:
        raw_operation = path_item[method.lower()]
        parameters = _inline_refs(
            [*path_item.get("parameters", []), *raw_operation.get("parameters", [])], document
        )
        path_parameters: dict[str, SchemaCheck] = {}
        query_parameters: dict[str, QueryParameter] = {}
        for parameter in parameters:
            schema = parameter.get("schema", {})
            check = SchemaCheck.for_requests(schema)
            if parameter["in"] == "path":
                path_parameters[parameter["name"]] = check
            elif parameter["in"] == "query":
                style = parameter.get("style", "form")
                query_parameters[parameter["name"]] = QueryParameter(
                    name=parameter["name"],
                    schema=schema,
                    check=check,
                    is_array=schema.get("type") == "array",
                    explode=parameter.get("explode", style == "form"),
                )
        request_body = _inline_refs(raw_operation.get("requestBody"), document)
        body_schema = _json_body_schema(request_body)
        responses = _inline_refs(
            response_document["paths"][template][method.lower()].get("responses", {}), response_document
        )
        return Operation(
            method=method,
            template=template,
            path_pattern=_template_pattern(template),
            path_parameters=path_parameters,
            query_parameters=query_parameters,
            body_check=SchemaCheck.for_requests(body_schema) if body_schema else None,
            body_required=bool(request_body and request_body.get("required")),
            response_validators={
                status: OAS30ReadValidator(schema, format_checker=_FORMAT_CHECKER)
                for status, response in responses.items()
                if (schema := _json_body_schema(response)) is not None
            },
        )

    def find(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], str | None]:
        """The operation for ``method`` + ``path``, its path parameters, or why there is none."""
        path_matched = False
        for operation in self._operations:
            match = operation.path_pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if operation.method == method:
                return operation, match.groupdict(), None
        if path_matched:
            return None, {}, f"{method} is not declared for {path}"
        return None, {}, f"no path template of the schema matches {path}"

    def check_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        body: bytes,
        content_type: str | None,
    ) -> list[str]:
        """Every way this request breaks the document (empty when it conforms)."""
        operation, path_values, missing = self.find(method, path)
        if operation is None:
            return [missing or "unknown operation"]
        problems: list[str] = []
        for name, value in path_values.items():
            problems += operation.path_parameters[name].errors(value, f"path parameter {name!r}")
        problems += self._query_problems(operation, query)
        problems += self._body_problems(operation, body, content_type)
        return problems

    @staticmethod
    def _query_problems(operation: Operation, query: Mapping[str, list[str]]) -> list[str]:
        problems: list[str] = []
        for name, values in query.items():
            parameter = operation.query_parameters.get(name)
            if parameter is None:
                problems.append(f"query parameter {name!r} is not declared for {operation.template}")
                continue
            value, split_problems = parameter.coerce(values)
            problems += split_problems or parameter.check.errors(value, f"query parameter {name!r}")
        return problems

    @staticmethod
    def _body_problems(operation: Operation, body: bytes, content_type: str | None) -> list[str]:
        if not body:
            return ["request body is required"] if operation.body_required else []
        if operation.body_check is None:
            return [f"{operation.method} {operation.template} takes no request body"]
        media_type = (content_type or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return [f"request body must be application/json, got {content_type!r}"]
        try:
            document = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as error:
            return [f"request body is not valid JSON: {error}"]
        return operation.body_check.errors(document, "body")

    def check_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Every way a parsed JSON response ``body`` breaks the document's response schema."""
        operation, _, missing = self.find(method, path)
        if operation is None:
            return [missing or "unknown operation"]
        validator = operation.response_validators.get(str(status))
        if validator is None:
            return [f"no JSON response schema for status {status} of {method} {operation.template}"]
        return _errors(validator, body, "response")


def load_document(path: Path) -> dict[str, Any]:
    """Parse a YAML OpenAPI document (the C loader when available: the file is large)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as stream:
        return yaml.load(stream, Loader=loader)


@functools.lru_cache(maxsize=4)
def load_checker(
    path: Path, response_overrides: Iterable[tuple[tuple[str, str], str]] = ()
) -> OpenAPIChecker:
    """A cached checker for the document at ``path`` (compiling costs ~100 ms; reuse it).

    ``response_overrides`` holds ``((schema, property), json_encoded_schema)`` pairs so the
    argument stays hashable for the cache.
    """
    overrides = {key: json.loads(schema) for key, schema in response_overrides}
    return OpenAPIChecker(load_document(path), response_overrides=overrides)
