"""An offline agents Model whose reply reports exactly what it was given.

No network, no API key. The reply names the earlier user messages it received
(in order), the User/Page lines of its instructions, any other instruction lines,
and the current message, e.g.::

    History: [first] [second]. User: Ada (id u1). Page: Docs | https://... | ... .
    You said: third

so a canary planted in history or context shows up in the reply exactly when it
reached the model. Text is streamed token by token with a fixed delay, which gives
stream-timing checks a known schedule.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.usage import Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from .prompt import BASE_INSTRUCTIONS, PAGE_PREFIX, USER_PREFIX

MODEL_NAME = "chatkit-reference-offline"
# Extra instruction lines are echoed, but each is cut so that a reply built from a
# reply (history-as-repr) cannot grow without bound from turn to turn. The limit is
# long enough for a whole access token (token-in-prompt must be visible).
MAX_ECHOED_LINE = 4096
# Replies repeat their whole input, so a thread with a long message in its history would
# stream for seconds, one word per delta, in every later turn. A real model's long answer
# is slow too, but nothing the harness checks needs more deltas than the reply to its
# counting prompt (about 75 words, which must stream over 300 ms at the bundled 5 ms a delta
# for the buffering verdict): longer replies are cut into at most this many runs of words,
# at the same pace.
MAX_DELTAS = 80
_TOKEN = re.compile(r"\S+\s*|\s+")


def _text_of(content: object) -> str:
    """The text of a message's content (a string or a list of text parts)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, Iterable):
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
    return "".join(parts)


def user_messages(model_input: str | list[TResponseInputItem]) -> list[str]:
    """The texts of the user messages in the model input, in order."""
    if isinstance(model_input, str):
        return [model_input]
    texts: list[str] = []
    for item in model_input:
        if isinstance(item, Mapping) and item.get("role") == "user":
            texts.append(_text_of(item.get("content")))
    return texts


def _clip(line: str) -> str:
    return line if len(line) <= MAX_ECHOED_LINE else line[:MAX_ECHOED_LINE] + "..."


def compose_reply(instructions: str | None, model_input: str | list[TResponseInputItem]) -> str:
    """The reply text: a report of the history, context and message the model received."""
    messages = user_messages(model_input)
    current = messages[-1] if messages else ""
    history = messages[:-1]
    lines = [line for line in (instructions or "").splitlines() if line.strip()]
    user = next((line for line in lines if line.startswith(USER_PREFIX)), None)
    page = next((line for line in lines if line.startswith(PAGE_PREFIX)), None)
    others = [_clip(line) for line in lines if line not in (BASE_INSTRUCTIONS, user, page)]
    parts = ["History: " + (" ".join(f"[{m}]" for m in history) if history else "(none)") + "."]
    parts.append(f"{user}." if user else "User: (none).")
    if page:
        parts.append(f"{page} .")
    if others:
        parts.append("Instructions also say: " + " / ".join(others) + ".")
    parts.append(f"You said: {current}")
    return " ".join(parts)


def tokenize(text: str) -> list[str]:
    """Word-sized deltas whose concatenation is exactly ``text``."""
    return _TOKEN.findall(text)


def deltas(text: str, limit: int = MAX_DELTAS) -> list[str]:
    """The streamed pieces of ``text``: one per word, or ``limit`` runs of words when longer;
    their concatenation is exactly ``text``."""
    words = tokenize(text)
    if len(words) <= limit:
        return words
    size, extra = divmod(len(words), limit)
    out: list[str] = []
    start = 0
    for n in range(limit):
        end = start + size + (1 if n < extra else 0)
        out.append("".join(words[start:end]))
        start = end
    return out


def _usage(text: str) -> ResponseUsage:
    count = len(tokenize(text))
    return ResponseUsage(
        input_tokens=0,
        input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
        output_tokens=count,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        total_tokens=count,
    )


class OfflineModel(Model):
    """Reports its input instead of thinking; streams word by word."""

    def __init__(self, *, token_delay: float = 0.01, first_token_delay: float = 0.0) -> None:
        self.token_delay = token_delay
        # slow-first-token fault: an extra wait before the first delta.
        self.first_token_delay = first_token_delay

    @staticmethod
    def _message(message_id: str, text: str, status: Any) -> ResponseOutputMessage:
        return ResponseOutputMessage(
            id=message_id,
            type="message",
            role="assistant",
            status=status,
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )

    @staticmethod
    def _response(response_id: str, output: list[Any], text: str, status: Any) -> Response:
        return Response(
            id=response_id,
            object="response",
            created_at=time.time(),
            model=MODEL_NAME,
            output=output,
            parallel_tool_calls=False,
            tool_choice="auto",
            tools=[],
            status=status,
            usage=_usage(text) if status == "completed" else None,
        )

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        """The whole reply at once."""
        text = compose_reply(system_instructions, input)
        count = len(tokenize(text))
        return ModelResponse(
            output=[self._message(f"msg_{uuid.uuid4().hex}", text, "completed")],
            usage=Usage(requests=1, output_tokens=count, total_tokens=count),
            response_id=f"resp_{uuid.uuid4().hex}",
        )

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """Responses-API events, one text delta per word (see MAX_DELTAS), ending in
        response.completed."""
        text = compose_reply(system_instructions, input)
        # ChatKit reuses the message id as its item id (a database key): unique per turn.
        message_id = f"msg_{uuid.uuid4().hex}"
        response_id = f"resp_{uuid.uuid4().hex}"
        seq = iter(range(1_000_000))
        empty_part = ResponseOutputText(type="output_text", text="", annotations=[])
        full_part = ResponseOutputText(type="output_text", text=text, annotations=[])

        yield ResponseCreatedEvent(
            type="response.created",
            sequence_number=next(seq),
            response=self._response(response_id, [], "", "in_progress"),
        )
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            sequence_number=next(seq),
            output_index=0,
            item=ResponseOutputMessage(
                id=message_id, type="message", role="assistant", status="in_progress", content=[]
            ),
        )
        yield ResponseContentPartAddedEvent(
            type="response.content_part.added",
            sequence_number=next(seq),
            item_id=message_id,
            output_index=0,
            content_index=0,
            part=empty_part,
        )
        for index, token in enumerate(deltas(text)):
            delay = self.token_delay + (self.first_token_delay if index == 0 else 0.0)
            if delay > 0:
                await asyncio.sleep(delay)
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                sequence_number=next(seq),
                item_id=message_id,
                output_index=0,
                content_index=0,
                delta=token,
                logprobs=[],
            )
        yield ResponseTextDoneEvent(
            type="response.output_text.done",
            sequence_number=next(seq),
            item_id=message_id,
            output_index=0,
            content_index=0,
            text=text,
            logprobs=[],
        )
        yield ResponseContentPartDoneEvent(
            type="response.content_part.done",
            sequence_number=next(seq),
            item_id=message_id,
            output_index=0,
            content_index=0,
            part=full_part,
        )
        done = self._message(message_id, text, "completed")
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            sequence_number=next(seq),
            output_index=0,
            item=done,
        )
        yield ResponseCompletedEvent(
            type="response.completed",
            sequence_number=next(seq),
            response=self._response(response_id, [done], text, "completed"),
        )
