"""What the two model endpoints do with a validated request: record it, reply, stream."""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import JSONResponse, Response

from . import chat_api, ids, responses_api
from .errors import StubRequestError
from .normalize import Message, chat_split, responses_instructions, responses_messages, tool_names
from .records import RecordedModelRequest
from .reply import compose_reply, count_tokens, tokenize
from .sse import PlannedEvent, TimedEventStream
from .state import StoredResponse, StubState
from .structured import requested_schema, structured_reply
from .tool_calls import PlannedToolCall, plan_tool_call, tool_reply
from .validation import validate_chat_body, validate_responses_body


def handle_responses(state: StubState, record: RecordedModelRequest, body: Any) -> Response:
    params = validate_responses_body(body)
    record.model = params.get("model")
    record.instructions = responses_instructions(params)
    record.messages = responses_messages(params.get("input"))
    record.tools = tool_names(params.get("tools"))
    record.stream = params.get("stream") is True
    record.previous_response_id = params.get("previous_response_id")

    # The real API replays the stored conversation for previous_response_id; so does the
    # stub, so that canaries from earlier turns still reach the reply.
    earlier: list[Message] = []
    if record.previous_response_id is not None:
        stored = state.stored_response(record.previous_response_id)
        if stored is None:
            raise StubRequestError(
                f"Previous response with id '{record.previous_response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        earlier = stored.conversation
    conversation = earlier + record.messages
    call = plan_tool_call(record.instructions, conversation, params.get("tools"), chat=False)
    if call is not None:
        return _responses_tool_call(state, record, params, conversation, call)

    tokens = _reply_tokens(state, record, conversation, requested_schema(params, chat=False))
    text = "".join(tokens)
    input_tokens = count_tokens(record.instructions, *(m["text"] for m in conversation))
    response_id = ids.response_id()
    item_id = ids.message_id()
    created_at = int(time.time())
    record.response_id = response_id
    record.reply = text

    if record.stream:
        events = responses_api.plan_stream(
            params,
            response_id=response_id,
            item_id=item_id,
            created_at=created_at,
            tokens=tokens,
            input_tokens=input_tokens,
        )
        final = events[-1].data["response"]
    else:
        final = responses_api.response_object(
            params,
            response_id=response_id,
            created_at=created_at,
            output=[responses_api.output_message(item_id, text)],
            status="completed",
            input_tokens=input_tokens,
            output_tokens=count_tokens(text),
        )
    if params.get("store") is not False:
        reply_message: Message = {"role": "assistant", "text": text}
        state.store_response(response_id, StoredResponse([*conversation, reply_message], final))

    if record.stream:
        return _stream(record, events, named_events=True, done_marker=False)
    record.finished_at = time.monotonic()
    return JSONResponse(final, headers=_headers())


def handle_chat(state: StubState, record: RecordedModelRequest, body: Any) -> Response:
    params = validate_chat_body(body)
    record.model = params.get("model")
    record.instructions, record.messages = chat_split(params.get("messages"))
    record.tools = tool_names(params.get("tools"))
    record.stream = params.get("stream") is True
    call = plan_tool_call(record.instructions, record.messages, params.get("tools"), chat=True)
    if call is not None:
        return _chat_tool_call(record, params, call)

    tokens = _reply_tokens(state, record, record.messages, requested_schema(params, chat=True))
    text = "".join(tokens)
    prompt_tokens = count_tokens(record.instructions, *(m["text"] for m in record.messages))
    completion_id = ids.chat_completion_id()
    created = int(time.time())
    record.response_id = completion_id
    record.reply = text

    if record.stream:
        chunks = chat_api.plan_chunks(
            params,
            completion_id=completion_id,
            created=created,
            tokens=tokens,
            prompt_tokens=prompt_tokens,
        )
        return _stream(record, chunks, named_events=False, done_marker=True)
    completion = chat_api.completion_object(
        params, completion_id=completion_id, created=created, text=text, prompt_tokens=prompt_tokens
    )
    record.finished_at = time.monotonic()
    return JSONResponse(completion, headers=_headers())


def _reply_tokens(
    state: StubState,
    record: RecordedModelRequest,
    conversation: list[Message],
    schema: dict[str, Any] | None,
) -> list[str]:
    reply = tool_reply(conversation) or compose_reply(
        record.instructions, conversation, state.marker_pattern
    )
    if schema is not None:
        reply = structured_reply(reply, schema)
    return tokenize(reply)


def _responses_tool_call(
    state: StubState,
    record: RecordedModelRequest,
    params: dict[str, Any],
    conversation: list[Message],
    call: PlannedToolCall,
) -> Response:
    """Answer a probe message with the function call an obedient model would make."""
    input_tokens = count_tokens(record.instructions, *(m["text"] for m in conversation))
    response_id = ids.response_id()
    created_at = int(time.time())
    record.response_id = response_id
    record.tool_call = call.to_json()
    events = responses_api.plan_function_call_stream(
        params,
        response_id=response_id,
        created_at=created_at,
        call=call,
        input_tokens=input_tokens,
    )
    final = events[-1].data["response"]
    if params.get("store") is not False:
        said: Message = {
            "role": "assistant",
            "text": f"function_call {call.name}({call.arguments})",
        }
        state.store_response(response_id, StoredResponse([*conversation, said], final))
    if record.stream:
        return _stream(record, events, named_events=True, done_marker=False)
    record.finished_at = time.monotonic()
    return JSONResponse(final, headers=_headers())


def _chat_tool_call(
    record: RecordedModelRequest, params: dict[str, Any], call: PlannedToolCall
) -> Response:
    prompt_tokens = count_tokens(record.instructions, *(m["text"] for m in record.messages))
    completion_id = ids.chat_completion_id()
    created = int(time.time())
    record.response_id = completion_id
    record.tool_call = call.to_json()
    if record.stream:
        chunks = chat_api.plan_tool_call_chunks(
            params,
            completion_id=completion_id,
            created=created,
            call=call,
            prompt_tokens=prompt_tokens,
        )
        return _stream(record, chunks, named_events=False, done_marker=True)
    completion = chat_api.tool_call_completion(
        params, completion_id=completion_id, created=created, call=call, prompt_tokens=prompt_tokens
    )
    record.finished_at = time.monotonic()
    return JSONResponse(completion, headers=_headers())


def _stream(
    record: RecordedModelRequest,
    events: list[PlannedEvent],
    *,
    named_events: bool,
    done_marker: bool,
) -> Response:
    headers = {**_headers(), "cache-control": "no-cache", "x-accel-buffering": "no"}
    return TimedEventStream(
        events, record, named_events=named_events, done_marker=done_marker, headers=headers
    )


def _headers() -> dict[str, str]:
    # The openai SDK exposes this as `_request_id`; deployments log it.
    return {"x-request-id": ids.request_id()}
