"""The stub's pure parts: normalising input, composing and cutting the reply, schemas."""

from __future__ import annotations

import json

import httpx
import pytest

from harness.glass.model_stub import StubState, compose_reply, create_app, tokenize
from harness.glass.model_stub.normalize import (
    chat_split,
    content_text,
    responses_messages,
    tool_names,
)
from harness.glass.model_stub.records import RecordedModelRequest, redact_headers
from harness.glass.model_stub.reply import find_markers
from harness.glass.model_stub.structured import requested_schema, structured_reply


def test_string_input_is_one_user_message() -> None:
    assert responses_messages("hi") == [{"role": "user", "text": "hi"}]


def test_list_content_parts_become_lines() -> None:
    content = [
        {"type": "input_text", "text": "visible"},
        {"type": "input_text", "text": "hidden context"},
        {"type": "input_image", "image_url": "https://example.invalid/a.png"},
        {"type": "input_file", "filename": "report.pdf"},
    ]
    assert content_text(content) == (
        "visible\nhidden context\n[input_image: https://example.invalid/a.png]\n"
        "[input_file: report.pdf]"
    )


def test_responses_items_of_every_kind() -> None:
    items = [
        {"type": "message", "role": "developer", "content": "dev note"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "t"}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        {
            "type": "function_call_output",
            "call_id": "c",
            "output": [{"type": "input_text", "text": "r"}],
        },
        {"type": "item_reference", "id": "msg_9"},
        {"type": "mcp_call", "id": "m", "name": "search", "output": "found"},
    ]
    assert responses_messages(items) == [
        {"role": "developer", "text": "dev note"},
        {"role": "reasoning", "text": "t"},
        {"role": "assistant", "text": "function_call f({})"},
        {"role": "tool", "text": "r"},
        {"role": "reference", "text": "msg_9"},
        {"role": "mcp_call", "text": "found"},
    ]


def test_chat_system_and_developer_messages_are_instructions() -> None:
    instructions, messages = chat_split(
        [
            {"role": "system", "content": "one"},
            {"role": "developer", "content": [{"type": "text", "text": "two"}]},
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c", "content": "result"},
        ]
    )
    assert instructions == "one\n\ntwo"
    assert messages == [
        {"role": "user", "text": "q"},
        {"role": "assistant", "text": "function_call f({})"},
        {"role": "tool", "text": "result"},
    ]


def test_tool_names() -> None:
    tools = [
        {"type": "function", "name": "a"},
        {"type": "function", "function": {"name": "b"}},
        {"type": "mcp", "server_label": "docs"},
        {"type": "web_search"},
    ]
    assert tool_names(tools) == ["a", "b", "mcp:docs", "web_search"]


def test_reply_reports_instructions_history_and_last_message() -> None:
    reply = compose_reply(
        "Be kind.",
        [
            {"role": "user", "text": "first"},
            {"role": "assistant", "text": "answer"},
            {"role": "user", "text": "second"},
        ],
    )
    assert reply == "Instructions: Be kind. History: [first] [second]. You said: second"


def test_reply_without_anything() -> None:
    assert compose_reply(None, []) == "Instructions: (none). History: (none). You said: (nothing)"


def test_long_instructions_keep_user_and_page_lines_and_lost_canaries() -> None:
    instructions = "\n".join(
        ["Policy text. " * 30, "The user is Ada Lovelace.", "Filler " * 40 + "canary-deep-77"]
    )
    reply = compose_reply(instructions, [{"role": "user", "text": "hi"}])
    assert "The user is Ada Lovelace." in reply
    assert reply.endswith("Markers: canary-deep-77")
    assert len(reply) < 600


def test_canary_in_an_assistant_or_tool_message_reaches_the_reply() -> None:
    messages = [
        {"role": "user", "text": "q"},
        {"role": "tool", "text": "tool said CANARY_tool_1"},
        {"role": "user", "text": "x " * 800 + "canary-tail-2"},
    ]
    reply = compose_reply(None, messages)
    assert "CANARY_tool_1" in reply
    assert "canary-tail-2" in reply


def test_custom_marker_pattern() -> None:
    reply = compose_reply(None, [{"role": "tool", "text": "secret ZX-1234"}], r"ZX-\d+")
    assert reply.endswith("Markers: ZX-1234")
    assert find_markers(["a ZX-1 b ZX-1 ZX-2"], r"ZX-\d") == ["ZX-1", "ZX-2"]


@pytest.mark.parametrize("text", ["a b  c\n d", " lead", "one", "", "tab\tsep"])
def test_tokens_rejoin_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text.rstrip()


def test_tokens_carry_their_leading_whitespace() -> None:
    assert tokenize("Hello big  world") == ["Hello", " big", "  world"]


def test_schema_filler_handles_refs_optionals_and_arrays() -> None:
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1},
            "fixed": {"const": "x"},
        },
        "$defs": {"Item": {"type": "object", "properties": {"ok": {"type": "boolean"}}}},
    }
    value = json.loads(structured_reply("R", schema))
    assert value == {"text": "R", "maybe": 0, "items": [{"ok": False}], "fixed": "x"}
    assert json.loads(structured_reply("R", {})) == {"reply": "R"}


def test_requested_schema_per_endpoint() -> None:
    schema = {"type": "object"}
    chat_body = {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    assert requested_schema(chat_body, chat=True) == schema
    responses_body = {"text": {"format": {"type": "json_schema", "schema": schema}}}
    assert requested_schema(responses_body, chat=False) == schema
    assert requested_schema({"text": {"format": {"type": "json_object"}}}, chat=False) == {}
    assert requested_schema({"text": {"format": {"type": "text"}}}, chat=False) is None


def test_redaction() -> None:
    headers = redact_headers({"Authorization": "Bearer sk-1", "Api-Key": "k", "X-Other": "v"})
    assert headers == {"authorization": "Bearer ***", "api-key": "***", "x-other": "v"}


def test_record_json_round_trip() -> None:
    record = RecordedModelRequest(index=3, method="POST", endpoint="/v1/responses")
    record.delta_send_times += [1.0, 1.5, 1.75]
    again = RecordedModelRequest.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record
    assert again.send_gaps == [0.5, 0.25]


@pytest.mark.asyncio
async def test_create_app_in_process() -> None:
    state = StubState(token_delay=0)
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://stub") as client:
        response = await client.post(
            "/v1/responses", json={"model": "m", "input": "in-process canary-asgi"}
        )
        assert response.status_code == 200
        assert "canary-asgi" in response.json()["output"][0]["content"][0]["text"]
        listed = (await client.get("/_stub/requests")).json()["requests"]
    assert [r["endpoint"] for r in listed] == ["/v1/responses"]
    assert state.requests[0].messages == [{"role": "user", "text": "in-process canary-asgi"}]
