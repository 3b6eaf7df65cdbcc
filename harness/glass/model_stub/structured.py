"""Replies for structured-output requests (``text.format`` / ``response_format``).

An agent with an ``output_type`` parses the model's text as JSON against its schema, so a
plain-text reply would make the deployment fail for a reason that is the stub's fault. The
stub instead fills the schema with placeholder values, putting its reply text in every string
field so canaries still come through.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_DEPTH = 12


def requested_schema(body: dict[str, Any], *, chat: bool) -> dict[str, Any] | None:
    """The JSON schema the request asks the reply to follow, ``{}`` for plain JSON mode.

    ``None`` means free text.
    """
    if chat:
        fmt = body.get("response_format")
        nested = fmt.get("json_schema") if isinstance(fmt, dict) else None
        schema = nested.get("schema") if isinstance(nested, dict) else None
    else:
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return {}
    if fmt.get("type") == "json_schema":
        return schema if isinstance(schema, dict) else {}
    return None


def structured_reply(reply: str, schema: dict[str, Any]) -> str:
    """JSON text conforming (as far as placeholders can) to ``schema``."""
    if not schema:
        return json.dumps({"reply": reply}, ensure_ascii=False)
    value = _fill(schema, schema, reply, 0)
    return json.dumps(value, ensure_ascii=False)


def _fill(schema: Any, root: dict[str, Any], reply: str, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _fill(_resolve(ref, root), root, reply, depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            # Prefer a non-null branch so Optional[...] fields get a real value.
            chosen = next((o for o in options if _type_of(o) != "null"), options[0])
            return _fill(chosen, root, reply, depth + 1)
    kind = _type_of(schema)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {name: _fill(sub, root, reply, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = schema.get("minItems", 0)
        item = _fill(schema.get("items", {}), root, reply, depth + 1)
        return [item] * count if isinstance(count, int) else []
    return _scalar(kind, reply)


def _scalar(kind: str | None, reply: str) -> Any:
    if kind == "string":
        return reply
    if kind in {"integer", "number"}:
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return reply


def _type_of(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        kind = non_null[0] if non_null else "null"
    return kind if isinstance(kind, str) else None


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict):
            return {}
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node
