"""JSON payloads of Chat Completions: the completion and its stream chunks."""

from __future__ import annotations

from typing import Any

from .reply import count_tokens
from .sse import PlannedEvent
from .tool_calls import PlannedToolCall


def chat_usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion_object(
    body: dict[str, Any], *, completion_id: str, created: int, text: str, prompt_tokens: int
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body.get("model") or "stub-model",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": chat_usage(prompt_tokens, count_tokens(text)),
        "service_tier": "default",
        "system_fingerprint": None,
    }


def plan_chunks(
    body: dict[str, Any], *, completion_id: str, created: int, tokens: list[str], prompt_tokens: int
) -> list[PlannedEvent]:
    """Every ``chat.completion.chunk`` of one streamed reply (``[DONE]`` is the sender's)."""
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model") or "stub-model",
            "service_tier": "default",
            "system_fingerprint": None,
            "choices": choices,
        }
        # With include_usage the API sends "usage": null on every chunk but the last.
        if include_usage:
            data["usage"] = None
        return data

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    planned = [PlannedEvent("chunk", chunk([choice({"role": "assistant", "content": ""})]))]
    planned += [PlannedEvent("chunk", chunk([choice({"content": t})]), True) for t in tokens]
    planned.append(PlannedEvent("chunk", chunk([choice({}, "stop")])))
    if include_usage:
        final = chunk([])
        final["usage"] = chat_usage(prompt_tokens, count_tokens("".join(tokens)))
        planned.append(PlannedEvent("chunk", final))
    return planned


def tool_call_completion(
    body: dict[str, Any],
    *,
    completion_id: str,
    created: int,
    call: PlannedToolCall,
    prompt_tokens: int,
) -> dict[str, Any]:
    """A non-streamed completion whose message is one tool call."""
    completion = completion_object(
        body, completion_id=completion_id, created=created, text="", prompt_tokens=prompt_tokens
    )
    choice = completion["choices"][0]
    choice["message"]["content"] = None
    choice["message"]["tool_calls"] = [_tool_call(call)]
    choice["finish_reason"] = "tool_calls"
    return completion


def _tool_call(call: PlannedToolCall, *, index: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": call.call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    return entry if index is None else {"index": index, **entry}


def plan_tool_call_chunks(
    body: dict[str, Any],
    *,
    completion_id: str,
    created: int,
    call: PlannedToolCall,
    prompt_tokens: int,
) -> list[PlannedEvent]:
    """The chunks of a streamed completion that is one tool call (``[DONE]`` is the sender's)."""
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model") or "stub-model",
            "service_tier": "default",
            "system_fingerprint": None,
            "choices": choices,
        }
        if include_usage:
            data["usage"] = None
        return data

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    opening = _tool_call(call, index=0)
    opening["function"] = {"name": call.name, "arguments": ""}
    arguments = {"index": 0, "function": {"arguments": call.arguments}}
    planned = [
        PlannedEvent(
            "chunk",
            chunk([choice({"role": "assistant", "content": None, "tool_calls": [opening]})]),
        ),
        PlannedEvent("chunk", chunk([choice({"tool_calls": [arguments]})])),
        PlannedEvent("chunk", chunk([choice({}, "tool_calls")])),
    ]
    if include_usage:
        final = chunk([])
        final["usage"] = chat_usage(prompt_tokens, count_tokens(call.arguments))
        planned.append(PlannedEvent("chunk", final))
    return planned
