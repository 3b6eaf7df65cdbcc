"""Small helpers for driving a ChatKit endpoint in tests: request bodies and SSE parsing.

Dependency-free on purpose (no chatkit import), so harness code and tests can use
them against any ChatKit server, not just this one.
"""

from __future__ import annotations

import json
from typing import Any

from .serving import serve_in_thread


def user_input(text: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``UserMessageInput`` (with the seed's ``metadata`` injection when given)."""
    value: dict[str, Any] = {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }
    if metadata is not None:
        value["metadata"] = metadata
    return value


def create_thread_body(text: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``threads.create`` request."""
    return {"type": "threads.create", "params": {"input": user_input(text, metadata)}}


def add_message_body(
    thread_id: str, text: str, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``threads.add_user_message`` request."""
    return {
        "type": "threads.add_user_message",
        "params": {"thread_id": thread_id, "input": user_input(text, metadata)},
    }


def parse_sse(body: bytes | str) -> list[dict[str, Any]]:
    """The JSON events of a ChatKit SSE body (``data: <json>`` frames)."""
    text = body.decode() if isinstance(body, bytes) else body
    events: list[dict[str, Any]] = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") for line in frame.split("\n") if line.startswith("data:")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


def thread_id_of(events: list[dict[str, Any]]) -> str:
    """The id from the ``thread.created`` event."""
    for event in events:
        if event.get("type") == "thread.created":
            return str(event["thread"]["id"])
    raise ValueError("no thread.created event")


def assistant_text(events: list[dict[str, Any]]) -> str:
    """The text of the last finished assistant message in the events."""
    for event in reversed(events):
        item = event.get("item") or {}
        if event.get("type") == "thread.item.done" and item.get("type") == "assistant_message":
            return "".join(part.get("text", "") for part in item.get("content", []))
    raise ValueError("no finished assistant message")


__all__ = [
    "add_message_body",
    "assistant_text",
    "create_thread_body",
    "parse_sse",
    "serve_in_thread",
    "thread_id_of",
    "user_input",
]
