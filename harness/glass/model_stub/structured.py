"""Replies for structured-output requests (``text.format`` / ``response_format``).

An agent with an ``output_type`` parses the model's text as JSON against its schema, so a
plain-text reply would make the deployment fail for a reason that is the stub's fault. The
stub instead fills the schema with placeholder values (schema_fill.py), putting its reply text
in every string field so canaries still come through.
"""

from __future__ import annotations

import json
from typing import Any

from .schema_fill import Fill


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
    """JSON text conforming (as far as placeholders can) to ``schema``: every property filled,
    every string the reply text."""
    if not schema:
        return json.dumps({"reply": reply}, ensure_ascii=False)
    fill = Fill(
        text=reply,
        number=0,
        boolean=False,
        fields="all",
        within_limits=False,
        max_depth=12,
        past_depth="unknown",
        unknown=None,
    )
    return json.dumps(fill.fill(schema), ensure_ascii=False)
