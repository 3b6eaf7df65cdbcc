"""``#harness-call-tool:NAME``: the stub calls the deployment's own tool NAME, then replies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
import pytest_asyncio
from agents import (
    Agent,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from pydantic import BaseModel

from harness.glass.model_stub import ModelStub
from harness.glass.model_stub.tool_args import sample_arguments, sample_value
from harness.glass.model_stub.tool_calls import (
    call_tool_marker,
    plan_tool_call,
    requested_tool,
    tool_reply,
)

set_tracing_disabled(True)  # tracing would try to export to the network

PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 3},
        "metric": {"type": "boolean"},
        "unit": {"enum": ["celsius", "fahrenheit"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "points": {"type": "array", "items": {"type": "number"}, "minItems": 2},
        "where": {
            "type": "object",
            "properties": {"lat": {"type": "number"}, "note": {"type": "string"}},
            "required": ["lat"],
        },
        "maybe": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        "optional": {"type": "string"},
        "user_id": {"type": "string"},
    },
    "required": ["city", "days", "metric", "unit", "tags", "points", "where", "maybe"],
}
RESPONSES_TOOL = {
    "type": "function",
    "name": "show_weather",
    "description": "Show the weather widget.",
    "parameters": PARAMS,
}
CHAT_TOOL = {
    "type": "function",
    "function": {k: v for k, v in RESPONSES_TOOL.items() if k != "type"},
}
PROMPT = f"Please use the show_weather tool. {call_tool_marker('show_weather')}"
EXPECTED = {
    "city": "harness",
    "days": 3,
    "metric": True,
    "unit": "celsius",
    "tags": [],
    "points": [1, 1],
    "where": {"lat": 1},
    "maybe": "harness",
    "user_id": "alice",  # optional, but the instructions name it: a model copies it
}
INSTRUCTIONS = "You are the weather app.\nUser ID: alice"


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "text": text}


def test_arguments_are_plain_valid_values_by_type() -> None:
    call = plan_tool_call(INSTRUCTIONS, [_user(PROMPT)], [RESPONSES_TOOL], chat=False)
    assert call is not None and call.name == "show_weather"
    assert json.loads(call.arguments) == EXPECTED
    chat = plan_tool_call(INSTRUCTIONS, [_user(PROMPT)], [CHAT_TOOL], chat=True)
    assert chat is not None and json.loads(chat.arguments) == EXPECTED


def test_refs_and_depth_are_bounded() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/Node"}, "name": {"type": "string"}},
                "required": ["child", "name"],
            }
        },
        "properties": {"root": {"$ref": "#/$defs/Node"}},
        "required": ["root"],
    }
    args = sample_arguments(schema)
    depth, node = 0, args["root"]
    while isinstance(node, dict):
        assert node["name"] == "harness"
        node, depth = node["child"], depth + 1
    assert 1 < depth < 10  # a self-referencing model ends, at a bounded depth
    assert sample_value({"type": ["null", "integer"], "maximum": 0}) == 0
    assert sample_value({"type": "string", "maxLength": 3}) == "har"
    assert sample_value({"const": "fixed"}) == "fixed"


@pytest.mark.parametrize(
    ("offered", "called"),
    [
        ("show_weather", "show_weather"),
        ("app_show_weather", "app_show_weather"),  # a prefix the deployment added
        ("weather.show_weather", "weather.show_weather"),
        ("show_weather_now", None),  # another tool, not a prefixed one
        ("noshow_weather", None),
    ],
)
def test_names_exact_or_prefixed(offered: str, called: str | None) -> None:
    tool = {**RESPONSES_TOOL, "name": offered}
    call = plan_tool_call(None, [_user(PROMPT)], [tool], chat=False)
    assert (call.name if call else None) == called


def test_exact_name_wins_over_a_prefixed_one() -> None:
    tools = [{**RESPONSES_TOOL, "name": "app_show_weather"}, RESPONSES_TOOL]
    call = plan_tool_call(None, [_user(PROMPT)], tools, chat=False)
    assert call is not None and call.name == "show_weather"


def test_no_call_once_the_tool_answered_or_without_marker() -> None:
    answered = [_user(PROMPT), {"role": "tool", "text": "Shown."}]
    assert plan_tool_call(None, answered, [RESPONSES_TOOL], chat=False) is None
    assert plan_tool_call(None, [_user("weather?")], [RESPONSES_TOOL], chat=False) is None
    hosted = [{"type": "web_search", "name": "show_weather"}]
    assert plan_tool_call(None, [_user(PROMPT)], hosted, chat=False) is None
    assert tool_reply(answered) == "The tool answered: Shown."
    assert requested_tool("use it. #harness-call-tool:a.b_c.") == "a.b_c"


@pytest.fixture(scope="module")
def stub() -> Iterator[ModelStub]:
    with ModelStub(token_delay=0.0) as running:
        yield running


def test_responses_call_then_reply(stub: ModelStub) -> None:
    with openai.OpenAI(base_url=stub.base_url, api_key="x", max_retries=0) as client:
        events = list(
            client.responses.create(
                model="m",
                instructions=INSTRUCTIONS,
                input=PROMPT,
                tools=[RESPONSES_TOOL],  # type: ignore[list-item]
                stream=True,
            )
        )
        [item] = events[-1].response.output  # type: ignore[union-attr]
        assert item.type == "function_call" and item.name == "show_weather"
        assert json.loads(item.arguments) == EXPECTED
        final = client.responses.create(
            model="m",
            input=[
                {"role": "user", "content": PROMPT},
                {
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                },
                {"type": "function_call_output", "call_id": item.call_id, "output": "sunny"},
            ],
            tools=[RESPONSES_TOOL],  # type: ignore[list-item]
        )
    assert final.output_text == "The tool answered: sunny"
    first, second = stub.model_requests()[-2:]
    assert first.tool_call is not None and first.tool_call["name"] == "show_weather"
    assert second.tool_call is None


def test_chat_call_then_reply(stub: ModelStub) -> None:
    with openai.OpenAI(base_url=stub.base_url, api_key="x", max_retries=0) as client:
        messages: list[Any] = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": PROMPT},
        ]
        chunks = list(
            client.chat.completions.create(
                model="m",
                messages=messages,
                tools=[CHAT_TOOL],  # type: ignore[list-item]
                stream=True,
            )
        )
        calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
        assert calls[0].function is not None and calls[0].function.name == "show_weather"
        arguments = "".join(tc.function.arguments or "" for tc in calls if tc.function)
        assert json.loads(arguments) == EXPECTED
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        call_id = calls[0].id
        final = client.chat.completions.create(
            model="m",
            messages=[
                *messages,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": "show_weather", "arguments": arguments},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call_id, "content": "rainy"},
            ],
            tools=[CHAT_TOOL],  # type: ignore[list-item]
        )
    assert final.choices[0].message.content == "The tool answered: rainy"
    assert stub.model_requests()[-2].tool_call is not None


# -- a real Agents SDK agent, over both APIs -----------------------------------------------

CALLS: list[dict[str, Any]] = []


class Place(BaseModel):
    city: str
    days: int


@function_tool
def show_forecast(place: Place, metric: bool) -> str:
    """Show the forecast widget for a place."""
    CALLS.append({"place": place.model_dump(), "metric": metric})
    return f"forecast shown for {place.city}"


@function_tool
def other_tool(word: str) -> str:
    """A tool the message does not ask for."""
    raise AssertionError("never called")


@pytest_asyncio.fixture
async def openai_client(stub: ModelStub) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=stub.base_url, api_key="sk-anything", max_retries=0)
    yield client
    await client.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["responses", "chat"])
async def test_agent_runs_the_named_tool(kind: str, openai_client: AsyncOpenAI) -> None:
    model: Model = (
        OpenAIResponsesModel(model="m", openai_client=openai_client)
        if kind == "responses"
        else OpenAIChatCompletionsModel(model="m", openai_client=openai_client)
    )
    agent = Agent(
        name="app", instructions="Be brief.", model=model, tools=[other_tool, show_forecast]
    )
    CALLS.clear()
    result = await Runner.run(agent, f"Use it. {call_tool_marker('show_forecast')}")
    # The strict schema (a nested model, every field required) accepted the stub's values.
    assert CALLS == [{"place": {"city": "harness", "days": 1}, "metric": True}]
    assert result.final_output == "The tool answered: forecast shown for harness"
