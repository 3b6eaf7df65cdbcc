"""Parameter checks for the two model endpoints.

The stub is lenient about parameters it does not know (deployments pass vendor extras through
``extra_body`` and newer SDKs add fields), but strict about types of the parameters it does
know and about a few parameters that belong to the *other* endpoint, since sending those is
a real deployment bug the real API would also reject.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import StubRequestError, invalid_type, invalid_value, missing, unknown

JSONObject = dict[str, Any]

# Parameters that only exist on the other endpoint; the real API answers them with a 400.
_NOT_ON_RESPONSES = {
    "messages": "The Responses API takes 'input'.",
    "max_tokens": "The Responses API takes 'max_output_tokens'.",
    "max_completion_tokens": "The Responses API takes 'max_output_tokens'.",
    "response_format": "In the Responses API this has moved to 'text.format'.",
    "n": "The Responses API always produces one output.",
    "functions": "The Responses API takes 'tools'.",
}
_NOT_ON_CHAT = {
    "input": "Chat Completions takes 'messages'.",
    "instructions": "Chat Completions takes a system or developer message.",
    "max_output_tokens": "Chat Completions takes 'max_completion_tokens'.",
}

_MESSAGE_ROLES = {"user", "assistant", "system", "developer"}
_CHAT_ROLES = {"user", "assistant", "system", "developer", "tool", "function"}


def parse_object(body: Any) -> JSONObject:
    if not isinstance(body, dict):
        raise StubRequestError(
            "The request body must be a JSON object.", code="invalid_request_body"
        )
    return body


def validate_responses_body(body: Any) -> JSONObject:
    """Check a ``POST /v1/responses`` body; return it unchanged when it is acceptable."""
    params = parse_object(body)
    for name, hint in _NOT_ON_RESPONSES.items():
        if name in params:
            raise unknown(name, hint)
    _check_model(params, required="prompt" not in params)
    if params.get("input") is None and "prompt" not in params:
        raise missing("input")
    _check_responses_input(params.get("input"))
    instructions = params.get("instructions")
    if instructions is not None and not isinstance(instructions, str | list):
        raise invalid_type("instructions", "a string", instructions)
    _check_common(params)
    _optional(params, "max_output_tokens", int)
    _int_at_least(params, "max_output_tokens", 1)
    _optional(params, "previous_response_id", str)
    _optional(params, "include", list)
    _optional(params, "text", dict)
    _optional(params, "reasoning", dict)
    _optional(params, "truncation", str)
    _one_of(params, "truncation", {"auto", "disabled"})
    _check_tools(params, chat=False)
    return params


def validate_chat_body(body: Any) -> JSONObject:
    """Check a ``POST /v1/chat/completions`` body; return it unchanged when acceptable."""
    params = parse_object(body)
    for name, hint in _NOT_ON_CHAT.items():
        if name in params:
            raise unknown(name, hint)
    _check_model(params, required=True)
    messages = params.get("messages")
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise invalid_type("messages", "an array", messages)
    if not messages:
        raise invalid_value("messages", "expected an array with minimum length 1.", "empty_array")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise invalid_type(where, "an object", message)
        role = message.get("role")
        if role not in _CHAT_ROLES:
            raise invalid_value(
                f"{where}.role",
                f"'{role}'. Supported values are: {', '.join(sorted(_CHAT_ROLES))}.",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid_type(f"{where}.content", "a string or an array", content)
    _check_common(params)
    _optional(params, "n", int)
    n = params.get("n")
    if n is not None and n != 1:
        raise StubRequestError(
            f"The model stub produces one choice per request; 'n' must be 1, got {n}.",
            param="n",
            code="unsupported_value",
        )
    for name in ("max_tokens", "max_completion_tokens"):
        _optional(params, name, int)
        _int_at_least(params, name, 1)
    for name in ("frequency_penalty", "presence_penalty"):
        _number_in(params, name, -2.0, 2.0)
    _optional(params, "response_format", dict)
    _optional(params, "stream_options", dict)
    if params.get("stream_options") is not None and params.get("stream") is not True:
        raise StubRequestError(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    _check_tools(params, chat=True)
    return params


def _check_model(params: Mapping[str, Any], *, required: bool) -> None:
    model = params.get("model")
    if model is None:
        if required:
            raise missing("model")
        return
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    if not model:
        raise invalid_value("model", "must not be empty.")


def _check_common(params: Mapping[str, Any]) -> None:
    """Parameters both endpoints share, with the same meaning and range."""
    _optional(params, "stream", bool)
    _number_in(params, "temperature", 0.0, 2.0)
    _number_in(params, "top_p", 0.0, 1.0)
    _optional(params, "parallel_tool_calls", bool)
    _optional(params, "store", bool)
    _optional(params, "user", str)
    _optional(params, "prompt_cache_key", str)
    _optional(params, "safety_identifier", str)
    _optional(params, "top_logprobs", int)
    _optional(params, "stream_options", dict)
    metadata = params.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise invalid_type("metadata", "an object", metadata)
        for key, value in metadata.items():
            if not isinstance(value, str):
                raise invalid_type(f"metadata.{key}", "a string", value)
    tool_choice = params.get("tool_choice")
    if tool_choice is not None:
        if isinstance(tool_choice, str):
            if tool_choice not in {"none", "auto", "required"}:
                raise invalid_value(
                    "tool_choice",
                    f"'{tool_choice}'. Supported values are: 'none', 'auto' and 'required'.",
                )
        elif not isinstance(tool_choice, dict):
            raise invalid_type("tool_choice", "a string or an object", tool_choice)


def _check_tools(params: Mapping[str, Any], *, chat: bool) -> None:
    tools = params.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid_type("tools", "an array", tools)
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        tool_type = tool.get("type")
        if not isinstance(tool_type, str):
            raise missing(f"{where}.type")
        if tool_type != "function":
            continue
        # Chat nests the function's definition one level deeper than Responses does.
        definition = tool.get("function") if chat else tool
        if chat and not isinstance(definition, dict):
            raise missing(f"{where}.function")
        name = definition.get("name") if isinstance(definition, dict) else None
        name_param = f"{where}.function.name" if chat else f"{where}.name"
        if name is None:
            raise missing(name_param)
        if not isinstance(name, str):
            raise invalid_type(name_param, "a string", name)


def _check_responses_input(value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list):
        raise invalid_type("input", "a string or an array", value)
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise invalid_type(where, "an object", item)
        item_type = item.get("type")
        if item_type is not None and not isinstance(item_type, str):
            raise invalid_type(f"{where}.type", "a string", item_type)
        if item_type in (None, "message"):
            role = item.get("role")
            if role not in _MESSAGE_ROLES:
                raise invalid_value(
                    f"{where}.role",
                    f"'{role}'. Supported values are: {', '.join(sorted(_MESSAGE_ROLES))}.",
                )
            content = item.get("content")
            if not isinstance(content, str | list):
                raise invalid_type(f"{where}.content", "a string or an array", content)


def _optional(params: Mapping[str, Any], name: str, expected: type) -> None:
    """Reject a present, non-null value of the wrong JSON type (null means "not given")."""
    value = params.get(name)
    if value is None:
        return
    # bool is an int subclass in Python but a distinct type in JSON.
    wrong_bool = isinstance(value, bool) and expected is not bool
    if wrong_bool or not isinstance(value, expected):
        raise invalid_type(name, _EXPECTED_NAMES.get(expected, expected.__name__), value)


_EXPECTED_NAMES: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def _number_in(params: Mapping[str, Any], name: str, low: float, high: float) -> None:
    value = params.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid_type(name, "a decimal", value)
    if value < low:
        raise StubRequestError(
            f"Invalid '{name}': decimal below minimum value. "
            f"Expected a value >= {low:g}, but got {value} instead.",
            param=name,
            code="decimal_below_min_value",
        )
    if value > high:
        raise StubRequestError(
            f"Invalid '{name}': decimal above maximum value. "
            f"Expected a value <= {high:g}, but got {value} instead.",
            param=name,
            code="decimal_above_max_value",
        )


def _int_at_least(params: Mapping[str, Any], name: str, low: int) -> None:
    value = params.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and value < low:
        raise StubRequestError(
            f"Invalid '{name}': integer below minimum value. "
            f"Expected a value >= {low}, but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )


def _one_of(params: Mapping[str, Any], name: str, allowed: set[str]) -> None:
    value = params.get(name)
    if value is not None and value not in allowed:
        raise invalid_value(name, f"'{value}'. Supported values are: {', '.join(sorted(allowed))}.")
