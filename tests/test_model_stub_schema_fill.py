"""The schema walker both structured replies and tool arguments fill their schemas with
(harness/glass/model_stub/schema_fill.py), through each of its two users."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

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


class _Node(BaseModel):
    value: str
    next: _Node | None = None


class _Tree(BaseModel):
    label: str
    children: list[_Tree]
    parent: _Tree | None


def test_a_recursive_optional_type_ends_in_null_and_validates() -> None:
    # Before, the walk went on to the depth bound, which fell on the required string: null,
    # and the reply failed the model's own validation.
    node = _Node.model_validate_json(structured_reply("R", _Node.model_json_schema()))
    assert node == _Node(value="R", next=None)  # Pydantic's root is a $ref: already inside
    tree = _Tree.model_validate_json(structured_reply("R", _Tree.model_json_schema()))
    assert tree == _Tree(label="R", children=[], parent=None)
    tree_schema = _Tree.model_json_schema()
    tree_inline = {**tree_schema["$defs"]["_Tree"], "$defs": tree_schema["$defs"]}
    args = _Tree.model_validate(sample_arguments(tree_inline))  # a tool's parameters: inline
    assert args == _Tree(
        label=STRING, children=[], parent=_Tree(label=STRING, children=[], parent=None)
    )
    # One level in when the root is the type itself and not a reference to it.
    schema = _Node.model_json_schema()
    inline = {**schema["$defs"]["_Node"], "$defs": schema["$defs"]}
    once = _Node.model_validate_json(structured_reply("R", inline))
    assert once.next == _Node(value="R", next=None)
