"""Arguments for a tool the stub calls: a plain valid value for each required parameter.

The stub knows nothing of what an app's tool does, only its JSON schema. A real model asked to
"use the X tool" fills in every required parameter with something plausible; the stub does
the same with fixed values by type ("harness", 1, true, the first enum value), so a tool that
validates its input (a strict Agents SDK schema, a Pydantic model) accepts the call and runs.
Optional parameters are left out, except identity-like ones the instructions give a value for
(as for the MCP probe tool): an obedient model copies those from its prompt.
"""

from __future__ import annotations

import re
from typing import Any

STRING = "harness"
MAX_DEPTH = 6  # nested objects and arrays deeper than this get no more structure
_REF = re.compile(r"^#/(\$defs|definitions)/(.+)$")


def sample_arguments(
    schema: dict[str, Any], filled: dict[str, str] | None = None
) -> dict[str, Any]:
    """The call's arguments: ``filled`` (identity values from the prompt) plus a sample value
    for every other required property."""
    value = _object(schema, schema, 0)
    out = value if isinstance(value, dict) else {}
    out.update(filled or {})
    return out


def sample_value(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A plain value valid for ``schema`` (a JSON schema, as function tools declare them)."""
    if not isinstance(schema, dict):
        return STRING
    root = root if root is not None else schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(ref, root) if depth <= MAX_DEPTH else None
        return sample_value(target, root, depth + 1) if target is not None else STRING
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and depth <= MAX_DEPTH:
            return sample_value(_first_not_null(options), root, depth + 1)
    kind = _type_of(schema)
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        if depth > MAX_DEPTH:
            return []
        count = schema.get("minItems")
        n = count if isinstance(count, int) and 0 < count <= 8 else 0
        return [sample_value(schema.get("items"), root, depth + 1) for _ in range(n)]
    if kind == "object":
        return _object(schema, root, depth)
    return STRING


def _object(schema: dict[str, Any], root: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        return {}
    properties = schema.get("properties")
    props = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    names = [n for n in required if isinstance(n, str)] if isinstance(required, list) else []
    return {name: sample_value(props.get(name), root, depth + 1) for name in names}


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if isinstance(k, str) and k != "null"]
        kind = kinds[0] if kinds else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _first_not_null(options: list[Any]) -> Any:
    for option in options:
        if not (isinstance(option, dict) and option.get("type") == "null"):
            return option
    return options[0]


def _string(schema: dict[str, Any]) -> str:
    low, high = schema.get("minLength"), schema.get("maxLength")
    text = STRING
    if isinstance(low, int) and low > len(text):
        text = (text * (low // len(text) + 1))[:low]
    if isinstance(high, int) and 0 <= high < len(text):
        text = text[:high]
    return text


def _number(schema: dict[str, Any], kind: str) -> int | float:
    value: int | float = 1
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, (int, float)) and not isinstance(low, bool) and value < low:
        value = low
    if isinstance(high, (int, float)) and not isinstance(high, bool) and value > high:
        value = high
    return int(value) if kind == "integer" else value


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    """A local ``#/$defs/Name`` reference (how Pydantic writes nested models)."""
    match = _REF.match(ref)
    if match is None:
        return None
    defs = root.get(match.group(1))
    return defs.get(match.group(2)) if isinstance(defs, dict) else None
