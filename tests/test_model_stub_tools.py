"""The model stub makes the tool call an obedient model would, for MCP probe messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from harness.glass.mcp_stub import TOOL_TAG
from harness.glass.model_stub import ModelStub
from harness.glass.model_stub.tool_calls import plan_tool_call, tool_reply, value_in_instructions

SEED_INSTRUCTIONS = """You are Assistant.
Authentication Context
  • User ID: alice
  • Access Token: eyJhbGciOi.secret.part
CRITICAL: When calling ANY MCP tool, include:
  • user_id: "alice"
  • access_token: "eyJhbGciOi.secret.part\""""
MARKER = "mcp-probe-0a1b2c3d-a1"
PARAMS = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "user_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "access_token": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["title"],
}
RESPONSES_TOOL = {
    "type": "function",
    "name": "add_task",
    "description": f"Add a task. {TOOL_TAG}",
    "parameters": PARAMS,
    "strict": False,
}
CHAT_TOOL = {
    "type": "function",
    "function": {k: v for k, v in RESPONSES_TOOL.items() if k not in ("type", "strict")},
}


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "text": text}


def test_copies_identity_from_the_seed_prompt() -> None:
    call = plan_tool_call(SEED_INSTRUCTIONS, [_user(f"add {MARKER}")], [RESPONSES_TOOL], chat=False)
    assert call is not None and call.name == "add_task"
    assert json.loads(call.arguments) == {
        "title": MARKER,
        "user_id": "alice",
        "access_token": "eyJhbGciOi.secret.part",
    }


def test_no_identity_in_the_prompt_means_none_in_the_call() -> None:
    instructions = "You are the assistant.\nUser: Alice (id alice)"
    call = plan_tool_call(instructions, [_user(MARKER)], [CHAT_TOOL], chat=True)
    assert call is not None and json.loads(call.arguments) == {"title": MARKER}


@pytest.mark.parametrize(
    ("messages", "tools"),
    [
        ([_user("no marker here")], [RESPONSES_TOOL]),  # not a probe message
        ([_user(MARKER)], []),  # no MCP tool on offer
        ([_user(MARKER)], [{**RESPONSES_TOOL, "name": "delete_everything"}]),
        ([_user(MARKER), {"role": "tool", "text": "done"}], [RESPONSES_TOOL]),  # answered
    ],
)
def test_no_call(messages: list[dict[str, str]], tools: list[Any]) -> None:
    assert plan_tool_call(SEED_INSTRUCTIONS, messages, tools, chat=False) is None


def test_prefixed_tool_name_is_found_by_its_tag() -> None:
    tool = {**RESPONSES_TOOL, "name": "tasks__add_task"}
    call = plan_tool_call(None, [_user(MARKER)], [tool], chat=False)
    assert call is not None and call.name == "tasks__add_task"


def test_value_in_instructions_spellings() -> None:
    assert value_in_instructions("user_id", "USER ID: u1") == "u1"
    assert value_in_instructions("access_token", "access_token=tok.en") == "tok.en"
    assert value_in_instructions("userId", "userId: 'u2'") == "u2"
    assert value_in_instructions("user_id", "User: Alice (id alice)") is None


def test_tool_reply_repeats_the_output() -> None:
    messages = [_user(MARKER), {"role": "tool", "text": "Added it for alice."}]
    assert tool_reply(messages) == "The tool answered: Added it for alice."
    assert tool_reply([_user("hello"), {"role": "tool", "text": "x"}]) is None


@pytest.fixture(scope="module")
def stub() -> Iterator[ModelStub]:
    with ModelStub(token_delay=0.0) as running:
        yield running


def test_responses_stream_is_a_function_call_then_a_reply(stub: ModelStub) -> None:
    with openai.OpenAI(base_url=stub.base_url, api_key="x", max_retries=0) as client:
        events = list(
            client.responses.create(
                model="gpt-4.1-mini",
                instructions=SEED_INSTRUCTIONS,
                input=f"please {MARKER}",
                tools=[RESPONSES_TOOL],  # type: ignore[list-item]
                stream=True,
            )
        )
        done = events[-1]
        assert done.type == "response.completed"
        [item] = done.response.output
        assert item.type == "function_call" and item.name == "add_task"
        assert json.loads(item.arguments)["user_id"] == "alice"
        final = client.responses.create(
            model="gpt-4.1-mini",
            input=[
                {"role": "user", "content": f"please {MARKER}"},
                {
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                },
                {"type": "function_call_output", "call_id": item.call_id, "output": "ok for alice"},
            ],
            tools=[RESPONSES_TOOL],  # type: ignore[list-item]
        )
    assert final.output_text == "The tool answered: ok for alice"
    first, second = stub.model_requests()[-2:]
    assert first.tool_call is not None and first.tool_call["name"] == "add_task"
    assert second.tool_call is None


def test_chat_stream_is_a_tool_call(stub: ModelStub) -> None:
    with openai.OpenAI(base_url=stub.base_url, api_key="x", max_retries=0) as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4.1-mini",
                messages=[
                    {"role": "system", "content": SEED_INSTRUCTIONS},
                    {"role": "user", "content": MARKER},
                ],
                tools=[CHAT_TOOL],  # type: ignore[list-item]
                stream=True,
            )
        )
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or []) if c.choices]
    arguments = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert calls[0].function is not None and calls[0].function.name == "add_task"
    assert json.loads(arguments)["access_token"] == "eyJhbGciOi.secret.part"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
