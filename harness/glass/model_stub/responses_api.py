"""JSON payloads of the Responses API: the ``Response`` object and its stream events.

Built as plain dicts (no openai import at runtime); the tests validate them against the
openai SDK's own pydantic types.
"""

from __future__ import annotations

import time
from typing import Any

from .reply import count_tokens
from .sse import PlannedEvent
from .tool_calls import PlannedToolCall


def output_message(item_id: str, text: str | None) -> dict[str, Any]:
    """The assistant message item; ``text=None`` gives the empty in-progress form."""
    content = [] if text is None else [output_text_part(text)]
    return {
        "id": item_id,
        "type": "message",
        "status": "in_progress" if text is None else "completed",
        "role": "assistant",
        "content": content,
    }


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    body: dict[str, Any],
    *,
    response_id: str,
    created_at: int,
    output: list[dict[str, Any]],
    status: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
) -> dict[str, Any]:
    """A ``Response`` echoing the request's settings, as the real API does."""
    completed = status == "completed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if completed else None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": body.get("model") or "stub-model",
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage(input_tokens, output_tokens) if completed else None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def plan_stream(
    body: dict[str, Any],
    *,
    response_id: str,
    item_id: str,
    created_at: int,
    tokens: list[str],
    input_tokens: int,
) -> list[PlannedEvent]:
    """The full event sequence for one streamed text reply, numbered in order."""
    text = "".join(tokens)
    location = {"item_id": item_id, "output_index": 0, "content_index": 0}
    in_progress = response_object(
        body, response_id=response_id, created_at=created_at, output=[], status="in_progress"
    )
    events: list[PlannedEvent] = [
        PlannedEvent("response.created", {"response": in_progress}),
        PlannedEvent("response.in_progress", {"response": in_progress}),
        PlannedEvent(
            "response.output_item.added",
            {"output_index": 0, "item": output_message(item_id, None)},
        ),
        PlannedEvent("response.content_part.added", {**location, "part": output_text_part("")}),
    ]
    events += [
        PlannedEvent(
            "response.output_text.delta", {**location, "delta": token, "logprobs": []}, True
        )
        for token in tokens
    ]
    final_item = output_message(item_id, text)
    completed = response_object(
        body,
        response_id=response_id,
        created_at=created_at,
        output=[final_item],
        status="completed",
        input_tokens=input_tokens,
        output_tokens=count_tokens(text),
    )
    events += [
        PlannedEvent("response.output_text.done", {**location, "text": text, "logprobs": []}),
        PlannedEvent("response.content_part.done", {**location, "part": output_text_part(text)}),
        PlannedEvent("response.output_item.done", {"output_index": 0, "item": final_item}),
        PlannedEvent("response.completed", {"response": completed}),
    ]
    return [
        PlannedEvent(
            e.event_type, {"type": e.event_type, **e.data, "sequence_number": n}, e.is_delta
        )
        for n, e in enumerate(events)
    ]


def function_call_item(call: PlannedToolCall, *, done: bool) -> dict[str, Any]:
    """The ``function_call`` output item; ``done=False`` gives the in-progress form."""
    return {
        "id": call.item_id,
        "type": "function_call",
        "status": "completed" if done else "in_progress",
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.arguments if done else "",
    }


def plan_function_call_stream(
    body: dict[str, Any],
    *,
    response_id: str,
    created_at: int,
    call: PlannedToolCall,
    input_tokens: int,
) -> list[PlannedEvent]:
    """The event sequence of a streamed reply that is one function call."""
    in_progress = response_object(
        body, response_id=response_id, created_at=created_at, output=[], status="in_progress"
    )
    location = {"item_id": call.item_id, "output_index": 0}
    final_item = function_call_item(call, done=True)
    completed = response_object(
        body,
        response_id=response_id,
        created_at=created_at,
        output=[final_item],
        status="completed",
        input_tokens=input_tokens,
        output_tokens=count_tokens(call.arguments),
    )
    events = [
        PlannedEvent("response.created", {"response": in_progress}),
        PlannedEvent("response.in_progress", {"response": in_progress}),
        PlannedEvent(
            "response.output_item.added",
            {"output_index": 0, "item": function_call_item(call, done=False)},
        ),
        PlannedEvent(
            "response.function_call_arguments.delta", {**location, "delta": call.arguments}
        ),
        PlannedEvent(
            "response.function_call_arguments.done",
            {**location, "name": call.name, "arguments": call.arguments},
        ),
        PlannedEvent("response.output_item.done", {"output_index": 0, "item": final_item}),
        PlannedEvent("response.completed", {"response": completed}),
    ]
    return [
        PlannedEvent(e.event_type, {"type": e.event_type, **e.data, "sequence_number": n})
        for n, e in enumerate(events)
    ]
