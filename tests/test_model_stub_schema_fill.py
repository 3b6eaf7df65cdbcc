"""The schema walker both structured replies and tool arguments fill their schemas with
(harness/glass/model_stub/schema_fill.py), through each of its two users."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.glass.model_stub.structured import structured_reply
from harness.glass.model_stub.tool_args import STRING, sample_arguments, sample_value


def _reply(schema: dict[str, Any]) -> Any:
    return json.loads(structured_reply("R", schema))


@pytest.mark.parametrize("defs", ["$defs", "definitions"])
def test_a_cycle_of_refs_alone_ends_at_the_depth_bound(defs: str) -> None:
    # No object between the references: only the depth bound stops the walk.
    schema = {defs: {"A": {"$ref": f"#/{defs}/B"}, "B": {"$ref": f"#/{defs}/A"}}}
    loop = {**schema, "$ref": f"#/{defs}/A"}
    assert _reply(loop) is None
    assert sample_value(loop) == STRING
    holder = {**schema, "type": "object", "properties": {"a": {"$ref": f"#/{defs}/A"}}}
    assert _reply({**holder, "required": []}) == {"a": None}
    assert sample_arguments({**holder, "required": ["a"]}) == {"a": STRING}


def test_null_branches_are_passed_over_unless_there_is_nothing_else() -> None:
    for null in ({"type": "null"}, {"type": ["null"]}):
        schema = {"anyOf": [null, {"type": "integer", "minimum": 4}]}
        assert _reply(schema) == 0
        assert sample_value(schema) == 4
        only_null = {"oneOf": [null, null]}
        assert _reply(only_null) is None
        assert sample_value(only_null) is None
    assert sample_value({"type": ["null", "boolean"]}) is True


def test_refs_are_json_pointers_into_the_whole_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "maximum": 0},
            "again": {"$ref": "#/properties/count"},  # how zod-to-json-schema reuses a schema
            "slashed": {"$ref": "#/$defs/a~1b"},  # "~1" stands for "/" in a pointer
        },
        "required": ["count", "again", "slashed"],
        "$defs": {"a/b": {"type": "boolean"}},
    }
    assert _reply(schema) == {"count": 0, "again": 0, "slashed": False}
    assert sample_arguments(schema) == {"count": 0, "again": 0, "slashed": True}
    # Another document's schema is not fetched: any value will do, a string.
    assert _reply({"$ref": "other.json#/$defs/X"}) == "R"
    assert sample_value({"$ref": "other.json#/$defs/X"}) == STRING


def test_the_declared_type_wins_over_other_keywords() -> None:
    schema = {"type": "array", "properties": {"a": {}}, "minItems": 1, "items": {"type": "null"}}
    assert _reply(schema) == [None]
    assert sample_value(schema) == [None]
    untyped = {"items": {"type": "string"}, "minItems": 2}
    assert _reply(untyped) == ["R", "R"]
    assert sample_value(untyped) == [STRING, STRING]
