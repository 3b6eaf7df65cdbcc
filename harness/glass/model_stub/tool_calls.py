"""When the stub calls a tool: an MCP probe message, and an MCP-derived tool on offer.

A real model follows its instructions. The seed's MCP pattern writes the user id and access
token into the system prompt and tells the model to pass them to every tool, and a model
does; so the stub, asked to call a tool, fills the tool's identity-like parameters
(``user_id``, ``access_token``...) from the instructions when they hold a value for them, and
leaves them out otherwise. Everything the checks then see at the MCP stub is what a
deployment's own wiring sent, plus what an obedient model copied from the prompt.

The turn runs in two model calls, as with a real model: the first answers with the function
call; the deployment runs the tool and calls again with its output, and the stub finishes the
turn with a text reply that repeats that output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from harness.glass.mcp_stub.markers import PROBE_TOOL, TOOL_TAG, find_marker

from . import ids
from .normalize import Message

# Parameter names a seed-style tool takes an identity in.
_IDENTITY_PARAM = re.compile(
    r"(?i)^(user_?id|userid|uid|user|access_?token|token|auth_?token|bearer(_?token)?|"
    r"id_?token|session_?token|api_?key)$"
)
_VALUE = r"""\s*[:=]\s*["'\u201c`]?([^\s"'\u201d`,;)]+)"""


@dataclass(frozen=True)
class PlannedToolCall:
    """The function call the stub answers with."""

    call_id: str
    item_id: str
    name: str
    arguments: str  # JSON text, as the APIs carry it

    def to_json(self) -> dict[str, str]:
        return {"call_id": self.call_id, "name": self.name, "arguments": self.arguments}


def _after_last_user(messages: list[Message]) -> tuple[Message | None, list[Message]]:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return messages[i], messages[i + 1 :]
    return None, []


def _function(tool: Any, *, chat: bool) -> tuple[str, str, dict[str, Any]] | None:
    """(name, description, parameters) of a function tool in either API's shape."""
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return None
    definition = tool.get("function") if chat else tool
    if not isinstance(definition, dict) or not isinstance(definition.get("name"), str):
        return None
    params = definition.get("parameters")
    return (
        definition["name"],
        str(definition.get("description") or ""),
        params if isinstance(params, dict) else {},
    )


def _probe_tool(tools: Any, *, chat: bool) -> tuple[str, dict[str, Any]] | None:
    """The MCP stub's add_task among the offered tools, under its own or a prefixed name."""
    for tool in tools if isinstance(tools, list) else []:
        found = _function(tool, chat=chat)
        if found is None:
            continue
        name, description, params = found
        named = name == PROBE_TOOL or re.search(rf"[_.:-]{PROBE_TOOL}$", name) is not None
        if named and (TOOL_TAG in description or name == PROBE_TOOL):
            return name, params
    return None


def value_in_instructions(param: str, instructions: str | None) -> str | None:
    """The value the instructions give for ``param`` ('User ID: x', 'access_token="y"')."""
    if not instructions:
        return None
    words = [w for w in re.split(r"[_\s]+|(?<=[a-z])(?=[A-Z])", param) if w]
    label = r"[\s_-]?".join(re.escape(w) for w in words)
    match = re.search(rf"(?i)\b{label}\b{_VALUE}", instructions)
    return match.group(1) if match else None


def plan_tool_call(
    instructions: str | None, messages: list[Message], tools: Any, *, chat: bool
) -> PlannedToolCall | None:
    """A function call for a probe message whose tool has not answered yet, else None."""
    last_user, after = _after_last_user(messages)
    if last_user is None or any(m.get("role") == "tool" for m in after):
        return None
    marker = find_marker(last_user.get("text", ""))
    tool = _probe_tool(tools, chat=chat)
    if marker is None or tool is None:
        return None
    name, params = tool
    properties = params.get("properties")
    props = properties if isinstance(properties, dict) else {}
    arguments: dict[str, str] = {"title": marker}
    for param in props:
        if _IDENTITY_PARAM.match(param):
            value = value_in_instructions(param, instructions)
            if value:
                arguments[param] = value
    return PlannedToolCall(
        call_id=ids.new_id("call_"),
        item_id=ids.new_id("fc_"),
        name=name,
        arguments=json.dumps(arguments),
    )


def tool_reply(messages: list[Message]) -> str | None:
    """The closing reply of a probe turn: what its tool answered, or None for other turns."""
    last_user, after = _after_last_user(messages)
    outputs = [m.get("text", "") for m in after if m.get("role") == "tool"]
    if last_user is None or not outputs or find_marker(last_user.get("text", "")) is None:
        return None
    return "The tool answered: " + " ".join(" ".join(o.split()) for o in outputs)
