"""When the stub calls a tool: an MCP probe message, or a message naming an offered tool.

A real model follows its instructions. The seed's MCP pattern writes the user id and access
token into the system prompt and tells the model to pass them to every tool, and a model
does; so the stub, asked to call a tool, fills the tool's identity-like parameters
(``user_id``, ``access_token``...) from the instructions when they hold a value for them, and
leaves them out otherwise. Everything the checks then see at the MCP stub is what a
deployment's own wiring sent, plus what an obedient model copied from the prompt.

A message carrying ``#harness-call-tool:NAME`` (the harness's tool tour) makes the stub call
the deployment's own function tool NAME, with a sample value for each required parameter
(tool_args.py): an app's widget or client tool runs the way it does when a real model picks it.

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
from .tool_args import sample_arguments

# Parameter names a seed-style tool takes an identity in.
_IDENTITY_PARAM = re.compile(
    r"(?i)^(user_?id|userid|uid|user|access_?token|token|auth_?token|bearer(_?token)?|"
    r"id_?token|session_?token|api_?key)$"
)
# The tool tour's request: "call the function tool NAME" (names as the APIs allow them).
CALL_TOOL_TAG = "#harness-call-tool:"
_CALL_TOOL = re.compile(re.escape(CALL_TOOL_TAG) + r"([A-Za-z0-9_.:-]{1,128})")
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
    for tool in _list(tools):
        found = _function(tool, chat=chat)
        if found is None:
            continue
        name, description, params = found
        named = name == PROBE_TOOL or re.search(rf"[_.:-]{PROBE_TOOL}$", name) is not None
        if named and (TOOL_TAG in description or name == PROBE_TOOL):
            return name, params
    return None


def call_tool_marker(name: str) -> str:
    """The marker that makes the stub call the tool ``name``."""
    return f"{CALL_TOOL_TAG}{name}"


def requested_tool(text: str) -> str | None:
    """The tool name a ``#harness-call-tool:NAME`` marker in ``text`` asks for, else None."""
    match = _CALL_TOOL.search(text)
    return match.group(1).rstrip(".:-") if match else None


def _named_tool(tools: Any, wanted: str, *, chat: bool) -> tuple[str, dict[str, Any]] | None:
    """The offered function tool called ``wanted``, or one a prefix renamed (``app_wanted``,
    ``app.wanted``); an exact name wins."""
    found = [f for f in (_function(t, chat=chat) for t in _list(tools)) if f is not None]
    for name, _, params in found:
        if name == wanted:
            return name, params
    for name, _, params in found:
        if name.endswith((f"_{wanted}", f".{wanted}")):
            return name, params
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _identity_arguments(params: dict[str, Any], instructions: str | None) -> dict[str, str]:
    """Identity-like parameters the instructions give a value for, as a model copies them."""
    properties = params.get("properties")
    out: dict[str, str] = {}
    for param in properties if isinstance(properties, dict) else {}:
        if _IDENTITY_PARAM.match(param):
            value = value_in_instructions(param, instructions)
            if value:
                out[param] = value
    return out


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
    """A function call for a probe or tour message whose tool has not answered yet, else None."""
    last_user, after = _after_last_user(messages)
    if last_user is None or any(m.get("role") == "tool" for m in after):
        return None
    text = last_user.get("text", "")
    marker = find_marker(text)
    if marker is not None:
        tool = _probe_tool(tools, chat=chat)
        if tool is None:
            return None
        name, params = tool
        arguments: dict[str, Any] = {"title": marker, **_identity_arguments(params, instructions)}
        return _planned(name, arguments)
    wanted = requested_tool(text)
    named = _named_tool(tools, wanted, chat=chat) if wanted is not None else None
    if named is None:
        return None
    name, params = named
    return _planned(name, sample_arguments(params, _identity_arguments(params, instructions)))


def _planned(name: str, arguments: dict[str, Any]) -> PlannedToolCall:
    return PlannedToolCall(
        call_id=ids.new_id("call_"),
        item_id=ids.new_id("fc_"),
        name=name,
        arguments=json.dumps(arguments),
    )


def tool_reply(messages: list[Message]) -> str | None:
    """The closing reply of a probe or tour turn: what its tool answered, else None."""
    last_user, after = _after_last_user(messages)
    outputs = [m.get("text", "") for m in after if m.get("role") == "tool"]
    if last_user is None or not outputs:
        return None
    text = last_user.get("text", "")
    if find_marker(text) is None and requested_tool(text) is None:
        return None
    return "The tool answered: " + " ".join(" ".join(o.split()) for o in outputs)
