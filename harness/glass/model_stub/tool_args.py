"""Arguments for a tool the stub calls: a plain valid value for each required parameter.

The stub knows nothing of what an app's tool does, only its JSON schema. A real model asked to
"use the X tool" fills in every required parameter with something plausible; the stub does
the same with fixed values by type ("harness", 1, true, the first enum value), so a tool that
validates its input (a strict Agents SDK schema, a Pydantic model) accepts the call and runs.
Optional parameters are left out, except identity-like ones the instructions give a value for
(as for the MCP probe tool): an obedient model copies those from its prompt. The schema is
walked by schema_fill.py, the walker structured replies use too.
"""

from __future__ import annotations

from typing import Any

from .schema_fill import Fill

STRING = "harness"
MAX_DEPTH = 6  # nested objects and arrays deeper than this get no more structure
_FILL = Fill(
    text=STRING,
    number=1,
    boolean=True,
    fields="required",
    within_limits=True,
    max_depth=MAX_DEPTH,
    past_depth="shallow",
    unknown=STRING,
    max_items=8,
)


def sample_arguments(
    schema: dict[str, Any], filled: dict[str, str] | None = None
) -> dict[str, Any]:
    """The call's arguments: ``filled`` (identity values from the prompt) plus a sample value
    for every other required property."""
    out = _FILL.fill_object(schema)
    out.update(filled or {})
    return out


def sample_value(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A plain value valid for ``schema`` (a JSON schema, as function tools declare them)."""
    return _FILL.fill(schema, root, depth)
