"""openai-agents runs unchanged against the model stub, over both OpenAI model APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from agents import (
    Agent,
    HostedMCPTool,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    Tool,
    TResponseInputItem,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from openai.types.responses import ResponseTextDeltaEvent
from pydantic import BaseModel

from harness.glass.model_stub import ModelStub

set_tracing_disabled(True)  # tracing would try to export to the network

INSTRUCTIONS = (
    "You are the help desk for Example Corp. Answer briefly.\n"
    "The user is viewing the page /pricing (marker canary-page-42)."
)
CONVERSATION: list[TResponseInputItem] = [
    {"role": "user", "content": "My first question mentions canary-hist-1."},
    {"role": "assistant", "content": "An earlier answer."},
    {"role": "user", "content": "And the follow-up question."},
]
EXPECTED_MESSAGES = [
    {"role": "user", "text": "My first question mentions canary-hist-1."},
    {"role": "assistant", "text": "An earlier answer."},
    {"role": "user", "text": "And the follow-up question."},
]
ENDPOINTS = {"responses": "/v1/responses", "chat": "/v1/chat/completions"}


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up an order (never called: the stub only answers in text)."""
    return f"order {order_id}"


@pytest.fixture(scope="module")
def running_stub() -> Iterator[ModelStub]:
    with ModelStub() as running:
        yield running


@pytest.fixture
def stub(running_stub: ModelStub) -> ModelStub:
    running_stub.clear()
    running_stub.token_delay = 0.002
    return running_stub


@pytest_asyncio.fixture
async def openai_client(stub: ModelStub) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=stub.base_url, api_key="sk-anything", max_retries=0)
    yield client
    await client.close()


def make_agent(kind: str, client: AsyncOpenAI, **kwargs: object) -> Agent:
    model: Model
    tools: list[Tool] = [lookup_order]
    if kind == "responses":
        model = OpenAIResponsesModel(model="any-model", openai_client=client)
        # A hosted MCP tool reaches the model as a tool definition only; the stub accepts it.
        tools.append(
            HostedMCPTool(
                tool_config={
                    "type": "mcp",
                    "server_label": "docs",
                    "server_url": "http://127.0.0.1:9/mcp",
                    "require_approval": "never",
                }
            )
        )
    else:
        model = OpenAIChatCompletionsModel(model="any-model", openai_client=client)
    return Agent(name="Helper", instructions=INSTRUCTIONS, model=model, tools=tools, **kwargs)  # type: ignore[arg-type]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["responses", "chat"])
async def test_run_streamed_streams_deltas_and_echoes_canaries(
    kind: str, stub: ModelStub, openai_client: AsyncOpenAI
) -> None:
    result = Runner.run_streamed(make_agent(kind, openai_client), CONVERSATION)
    deltas: list[str] = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
            deltas.append(event.data.delta)

    output = result.final_output
    assert isinstance(output, str)
    assert len(deltas) > 3
    assert "".join(deltas) == output
    assert "canary-page-42" in output
    assert "canary-hist-1" in output
    assert output.endswith("You said: And the follow-up question.")

    [recorded] = stub.model_requests()
    assert recorded.endpoint == ENDPOINTS[kind]
    assert recorded.stream is True
    assert recorded.model == "any-model"
    assert recorded.instructions == INSTRUCTIONS
    assert recorded.messages == EXPECTED_MESSAGES
    assert "lookup_order" in recorded.tools
    assert recorded.headers["authorization"] == "Bearer ***"
    assert len(recorded.delta_send_times) == len(deltas)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["responses", "chat"])
async def test_run_without_streaming(
    kind: str, stub: ModelStub, openai_client: AsyncOpenAI
) -> None:
    result = await Runner.run(make_agent(kind, openai_client), "Single question canary-run-5")
    assert "canary-run-5" in result.final_output
    assert "canary-page-42" in result.final_output
    [recorded] = stub.model_requests()
    assert recorded.stream is False
    assert recorded.messages == [{"role": "user", "text": "Single question canary-run-5"}]


class Verdict(BaseModel):
    summary: str
    score: int
    urgent: bool


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["responses", "chat"])
async def test_structured_output_agents_get_parseable_json(
    kind: str, stub: ModelStub, openai_client: AsyncOpenAI
) -> None:
    agent = make_agent(kind, openai_client, output_type=Verdict)
    result = await Runner.run(agent, "Classify this canary-struct-9")
    verdict = result.final_output
    assert isinstance(verdict, Verdict)
    assert "canary-struct-9" in verdict.summary
    assert verdict.score == 0


@pytest.mark.asyncio
async def test_second_turn_with_previous_response_id(
    stub: ModelStub, openai_client: AsyncOpenAI
) -> None:
    agent = make_agent("responses", openai_client)
    first = await Runner.run(agent, "Turn one canary-prev-3")
    second = await Runner.run(agent, "Turn two", previous_response_id=first.last_response_id)
    assert "canary-prev-3" in second.final_output
    recorded = stub.model_requests()[-1]
    assert recorded.previous_response_id == first.last_response_id
    assert recorded.messages == [{"role": "user", "text": "Turn two"}]
