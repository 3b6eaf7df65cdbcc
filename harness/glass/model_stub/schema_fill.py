"""Placeholder values for a JSON schema: the one walker behind structured replies
(structured.py) and tool-call arguments (tool_args.py).

The walk is the same for both: a local ``$ref`` is followed (a JSON pointer, as Pydantic's
``#/$defs/Name``), ``const`` and then the first ``enum`` value win, a combinator (``anyOf``,
``oneOf``, ``allOf``) takes its first branch that is not null (so ``Optional[...]`` gets a
real value), and the rest goes by type; a schema with no type is an object if it has
``properties``, an array if it has ``items``, else a string. A branch that refers back into
a type the walk is already inside is passed over for a null one: a recursive
``next: Node | None`` ends there, as null, instead of at the depth bound, where a required
string would become the policy's ``unknown`` and the value would not validate. A ``Fill``
policy says what differs: which properties get a value, what a scalar becomes, whether the
schema's limits are kept, and how deep the walk goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

_COMBINATORS = ("anyOf", "oneOf", "allOf")


@dataclass(frozen=True)
class Fill:
    """How to fill a schema; ``fill`` and ``fill_object`` walk it."""

    text: str  # every string
    number: int  # every integer and number
    boolean: bool
    fields: Literal["all", "required"]  # the properties an object gets
    within_limits: bool  # keep strings to min/maxLength and numbers to minimum/maximum
    max_depth: int
    # Deeper than max_depth, "unknown": a node is ``unknown``; "shallow": a node gets no more
    # structure (a $ref is ``unknown``, a combinator is not followed, objects and arrays are
    # empty) but a scalar is still filled.
    past_depth: Literal["unknown", "shallow"]
    unknown: Any  # what a node that is no schema (not an object, a dangling $ref) becomes
    max_items: int | None = None  # an array whose minItems is above this gets no items

    def fill(
        self,
        schema: Any,
        root: dict[str, Any] | None = None,
        depth: int = 0,
        inside: frozenset[str] = frozenset(),
    ) -> Any:
        """A value for ``schema``; ``root`` holds what its ``$ref``s point into (default:
        ``schema`` itself), ``depth`` is how far down the walk already is, ``inside`` the
        ``$ref``s it followed to get here."""
        if root is None:
            root = schema if isinstance(schema, dict) else {}
        shallow = depth > self.max_depth
        if not isinstance(schema, dict) or (shallow and self.past_depth == "unknown"):
            return self.unknown
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if shallow:
                return self.unknown
            return self.fill(_resolve(ref, root), root, depth + 1, inside | {ref})
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        for combinator in _COMBINATORS:
            options = schema.get(combinator)
            if isinstance(options, list) and options and not shallow:
                return self.fill(_branch(options, inside), root, depth + 1, inside)
        kind = _kind(schema)
        if kind == "object":
            return self.fill_object(schema, root, depth, inside)
        if kind == "array":
            return [] if shallow else self._array(schema, root, depth, inside)
        if kind == "string":
            return self._string(schema)
        if kind in ("integer", "number"):
            return self._number(schema, kind)
        if kind == "boolean":
            return self.boolean
        if kind == "null":
            return None
        return self.text  # a type JSON Schema does not have

    def fill_object(
        self,
        schema: dict[str, Any],
        root: dict[str, Any] | None = None,
        depth: int = 0,
        inside: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """The object ``schema`` describes, whatever its ``type`` says: a value for each of
        its properties, or each of its required ones."""
        root = schema if root is None else root
        if depth > self.max_depth:
            return {}
        properties = schema.get("properties")
        props = properties if isinstance(properties, dict) else {}
        names: list[Any] = list(props)
        if self.fields == "required":
            required = schema.get("required")
            names = required if isinstance(required, list) else []
        return {
            n: self.fill(props.get(n), root, depth + 1, inside) for n in names if isinstance(n, str)
        }

    def _array(
        self, schema: dict[str, Any], root: dict[str, Any], depth: int, inside: frozenset[str]
    ) -> list[Any]:
        count = schema.get("minItems")
        if not isinstance(count, int) or count <= 0:
            return []
        if self.max_items is not None and count > self.max_items:
            return []
        return [self.fill(schema.get("items", {}), root, depth + 1, inside)] * count

    def _string(self, schema: dict[str, Any]) -> str:
        text = self.text
        if not self.within_limits:
            return text
        low, high = schema.get("minLength"), schema.get("maxLength")
        if isinstance(low, int) and low > len(text) and text:
            text = (text * (low // len(text) + 1))[:low]
        if isinstance(high, int) and 0 <= high < len(text):
            text = text[:high]
        return text

    def _number(self, schema: dict[str, Any], kind: str) -> int | float:
        value: int | float = self.number
        if self.within_limits:
            low, high = schema.get("minimum"), schema.get("maximum")
            if isinstance(low, (int, float)) and not isinstance(low, bool) and value < low:
                value = low
            if isinstance(high, (int, float)) and not isinstance(high, bool) and value > high:
                value = high
        return int(value) if kind == "integer" else value


def _branch(options: list[Any], inside: frozenset[str]) -> Any:
    """The branch of a combinator to fill: the first that is neither null nor, when a null
    one is there to end on, a reference back into a type the walk is inside."""
    nulls = [o for o in options if _kind(o) == "null"]
    for option in options:
        if _kind(option) == "null":
            continue
        back = isinstance(option, dict) and option.get("$ref") in inside
        if not (back and nulls):
            return option
    return nulls[0] if nulls else options[0]


def _kind(schema: Any) -> str | None:
    """The schema's type (the first one not null, in a list of them), else what its keywords
    say it is; ``None`` for what is no schema."""
    if not isinstance(schema, dict):
        return None
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


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    """What a local reference (a JSON pointer into ``root``) points at; ``{}`` (any value)
    for a reference to another document."""
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict):
            return {}
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node
