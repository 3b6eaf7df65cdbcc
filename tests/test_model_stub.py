"""The model stub over a real socket, driven by the openai SDK and raw HTTP."""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from harness.glass.model_stub import ModelStub
from harness.glass.model_stub.remote import clear_requests, configure, fetch_requests

STREAM_EVENT = TypeAdapter(ResponseStreamEvent)
RESPONSES_SEQUENCE_HEAD = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
RESPONSES_SEQUENCE_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.fixture(scope="module")
def running_stub() -> Iterator[ModelStub]:
    with ModelStub() as running:
        yield running


@pytest.fixture
def stub(running_stub: ModelStub) -> ModelStub:
    # One server per module keeps the suite fast; each test gets it empty and on a fast clock.
    running_stub.clear()
    running_stub.token_delay = 0.002
    running_stub.first_token_delay = 0.0
    return running_stub


@pytest.fixture
def client(stub: ModelStub) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stub.base_url, api_key="sk-test-secret", max_retries=0) as c:
        yield c


@dataclass
class RawEvent:
    name: str | None
    data: str
    arrived: float


def stream_raw(url: str, body: dict[str, Any]) -> list[RawEvent]:
    """POST and split the SSE body into events, stamping each with its arrival time."""
    events: list[RawEvent] = []
    buffer = ""
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", url, json=body, headers={"Authorization": "Bearer k"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for chunk in response.iter_text():
            arrived = time.monotonic()
            buffer += chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                name = None
                data_lines = []
                for line in block.split("\n"):
                    if line.startswith("event: "):
                        name = line[len("event: ") :]
                    elif line.startswith("data: "):
                        data_lines.append(line[len("data: ") :])
                events.append(RawEvent(name, "\n".join(data_lines), arrived))
    assert buffer == ""
    return events


# -- Responses API ---------------------------------------------------------------------------


def test_responses_stream_is_the_documented_event_sequence(stub: ModelStub) -> None:
    body = {
        "model": "any-model",
        "instructions": "Be brief.",
        "input": "tell me something short",
        "stream": True,
    }
    events = stream_raw(f"{stub.base_url}/responses", body)
    names = [e.name for e in events]
    deltas = [e for e in events if e.name == "response.output_text.delta"]
    assert names == RESPONSES_SEQUENCE_HEAD + [e.name for e in deltas] + RESPONSES_SEQUENCE_TAIL
    assert len(deltas) > 3

    parsed = [STREAM_EVENT.validate_python(json.loads(e.data)) for e in events]
    assert [p.type for p in parsed] == names
    assert [p.sequence_number for p in parsed] == list(range(len(parsed)))
    created, completed = parsed[0], parsed[-1]
    assert created.type == "response.created"
    assert completed.type == "response.completed"
    assert created.response.id == completed.response.id
    assert completed.response.status == "completed"
    assert completed.response.usage is not None
    text = "".join(json.loads(e.data)["delta"] for e in deltas)
    assert completed.response.output_text == text
    item_ids = {p.item_id for p in parsed if hasattr(p, "item_id")}
    assert item_ids == {completed.response.output[0].id}


def test_responses_stream_through_the_sdk(client: openai.OpenAI, stub: ModelStub) -> None:
    with client.responses.stream(model="gpt-x", input="stream canary-sdk-1 please") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 3
    assert "".join(deltas) == final.output_text
    assert "canary-sdk-1" in final.output_text
    [recorded] = stub.requests
    assert recorded.stream is True
    assert len(recorded.delta_send_times) == len(deltas)


def test_responses_non_streaming_is_a_valid_response(
    client: openai.OpenAI, stub: ModelStub
) -> None:
    raw = httpx.post(
        f"{stub.base_url}/responses",
        json={"model": "m", "input": "hi", "instructions": "canary-inst-7"},
    )
    assert raw.status_code == 200
    Response.model_validate(raw.json(), strict=False)  # raises on a malformed shape

    response = client.responses.create(
        model="whatever-model",
        instructions="You are terse. canary-inst-8",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}],
    )
    assert response.status == "completed"
    assert response.model == "whatever-model"
    assert "canary-inst-8" in response.output_text
    assert "You said: hello" in response.output_text


def test_responses_accepts_the_parameters_agents_send(stub: ModelStub) -> None:
    body = {
        "model": "gpt-5",
        "instructions": "sys",
        "input": [
            {"role": "user", "content": "weather?"},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}],
            },
            {"role": "user", "content": "thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {}},
                "strict": True,
            },
            {"type": "function", "name": "mcp_search", "parameters": {}, "strict": False},
            {"type": "mcp", "server_label": "docs", "server_url": "http://127.0.0.1:1/mcp"},
        ],
        "tool_choice": "auto",
        "reasoning": {"effort": "low", "summary": None},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "parallel_tool_calls": True,
        "temperature": 0.2,
        "top_p": 0.9,
        "metadata": {"thread": "t1"},
        "truncation": "auto",
        "text": {"format": {"type": "text"}, "verbosity": "low"},
        "max_output_tokens": 256,
        "user": "u1",
        "prompt_cache_key": "k",
        "stream_options": {"include_obfuscation": False},
        "some_future_parameter": {"x": 1},
    }
    response = httpx.post(f"{stub.base_url}/responses", json=body)
    assert response.status_code == 200, response.text
    [recorded] = stub.requests
    assert recorded.model == "gpt-5"
    assert recorded.tools == ["get_weather", "mcp_search", "mcp:docs"]
    assert recorded.messages == [
        {"role": "user", "text": "weather?"},
        {"role": "assistant", "text": 'function_call get_weather({"city": "Paris"})'},
        {"role": "tool", "text": "sunny"},
        {"role": "assistant", "text": "It is sunny."},
        {"role": "user", "text": "thanks"},
    ]
    assert recorded.body == body


def test_previous_response_id_replays_the_stored_conversation(client: openai.OpenAI) -> None:
    first = client.responses.create(model="m", input="first turn canary-turn-1")
    second = client.responses.create(model="m", input="second", previous_response_id=first.id)
    assert "canary-turn-1" in second.output_text
    assert "History: [first turn canary-turn-1] [second]" in second.output_text
    assert client.responses.retrieve(first.id).id == first.id
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="m", input="x", previous_response_id="resp_missing")
    assert caught.value.code == "previous_response_not_found"


def test_structured_output_request_gets_schema_shaped_json(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "confidence": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"$ref": "#/$defs/Kind"},
        },
        "required": ["answer", "confidence", "tags", "kind"],
        "additionalProperties": False,
        "$defs": {"Kind": {"type": "string", "enum": ["short", "long"]}},
    }
    response = client.responses.create(
        model="m",
        input="structured canary-json-1",
        text={"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}},
    )
    value = json.loads(response.output_text)
    assert set(value) == {"answer", "confidence", "tags", "kind"}
    assert "canary-json-1" in value["answer"]
    assert value["kind"] == "short"


# -- Chat Completions ------------------------------------------------------------------------


def test_chat_stream_chunks_parse_and_end_with_done(stub: ModelStub) -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are a stub."},
            {"role": "user", "content": "say a few words"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = stream_raw(f"{stub.base_url}/chat/completions", body)
    assert all(e.name is None for e in events)
    assert events[-1].data == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(e.data)) for e in events[:-1]]
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert len(content) > 3 and all(content)
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(content)
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_stream_without_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "a b c d"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.endswith("You said: a b c d")


def test_chat_non_streaming(client: openai.OpenAI, stub: ModelStub) -> None:
    raw = httpx.post(
        f"{stub.base_url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    ChatCompletion.model_validate(raw.json())
    completion = client.chat.completions.create(
        model="m",
        messages=[
            {"role": "developer", "content": "Rules canary-dev-3"},
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "two"}]},
        ],
        temperature=0,
        n=1,
        max_completion_tokens=50,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
        parallel_tool_calls=False,
    )
    text = completion.choices[0].message.content or ""
    assert "canary-dev-3" in text
    assert "History: [one] [two]. You said: two" in text
    recorded = stub.requests[-1]
    assert recorded.instructions == "Rules canary-dev-3"
    assert [m["role"] for m in recorded.messages] == ["user", "assistant", "user"]
    assert recorded.tools == ["lookup"]


# -- errors ----------------------------------------------------------------------------------

BAD_REQUESTS = [
    ("chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}),
    ("chat/completions", {"model": "m"}),
    ("chat/completions", {"model": "m", "messages": "hello"}),
    ("chat/completions", {"model": "m", "messages": []}),
    ("chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
    ("chat/completions", {"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
    (
        "chat/completions",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "stream_options": {"include_usage": True},
        },
    ),
    ("responses", {"model": "m"}),
    ("responses", {"model": "m", "input": "x", "n": 2}),
    ("responses", {"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    ("responses", {"model": "m", "input": "x", "temperature": "hot"}),
    ("responses", {"model": "m", "input": "x", "temperature": 7}),
    ("responses", {"model": "m", "input": "x", "stream": "yes"}),
    ("responses", {"model": 5, "input": "x"}),
    ("responses", {"model": "m", "input": 42}),
    ("responses", {"model": "m", "input": "x", "tools": {"type": "function"}}),
    ("responses", {"model": "m", "input": "x", "tools": [{"type": "function"}]}),
    ("responses", {"model": "m", "input": "x", "metadata": {"k": 1}}),
    ("responses", {"model": "m", "input": "x", "max_output_tokens": 0}),
    ("responses", {"model": "m", "input": "x", "tool_choice": "sometimes"}),
    ("responses", {"model": "m", "input": [{"role": "user", "content": 3}]}),
    ("responses", ["not", "an", "object"]),
]


@pytest.mark.parametrize(("path", "body"), BAD_REQUESTS)
def test_invalid_requests_get_openai_style_400(
    stub: ModelStub, path: str, body: dict[str, Any]
) -> None:
    response = httpx.post(f"{stub.base_url}/{path}", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["message"], str) and error["message"]
    [recorded] = stub.requests
    assert recorded.status_code == 400
    assert recorded.error == error


def test_unparsable_json_is_a_400(stub: ModelStub) -> None:
    response = httpx.post(
        f"{stub.base_url}/responses",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert stub.requests[0].body == "{not json"


def test_sdk_raises_bad_request_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], n=3)
    assert caught.value.status_code == 400
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught_responses:
        client.responses.create(model="m", input="x", extra_body={"n": 2})
    assert caught_responses.value.code == "unknown_parameter"


def test_unknown_endpoints_are_recorded_404s(stub: ModelStub) -> None:
    response = httpx.post(f"{stub.base_url}/conversations", json={})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert stub.requests[0].endpoint == "/v1/conversations"
    outside = httpx.get(f"{stub.root_url}/nowhere")
    assert outside.status_code == 404
    assert "error" in outside.json()


# -- ids, recording, control routes ----------------------------------------------------------


def test_ids_are_unique_across_50_responses(client: openai.OpenAI, stub: ModelStub) -> None:
    stub.token_delay = 0
    ids: list[str] = []
    for n in range(25):
        response = client.responses.create(model="m", input=f"q{n}")
        ids += [response.id, *(getattr(item, "id", "") for item in response.output)]
    for n in range(25):
        with client.responses.stream(model="m", input=f"s{n}") as stream:
            final = stream.get_final_response()
        ids += [final.id, *(getattr(item, "id", "") for item in final.output)]
    for n in range(10):
        ids.append(
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"c{n}"}]
            ).id
        )
    assert len(ids) == 110
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(("resp_", "msg_", "chatcmpl-")) for i in ids)


def test_records_hold_headers_redacted_and_times(client: openai.OpenAI, stub: ModelStub) -> None:
    before = time.monotonic()
    client.responses.create(model="m", input="x", extra_headers={"X-Trace": "abc"})
    [recorded] = stub.requests
    assert recorded.headers["authorization"] == "Bearer ***"
    assert "sk-test-secret" not in json.dumps(recorded.to_json())
    assert recorded.headers["x-trace"] == "abc"
    assert before <= recorded.received_at <= (recorded.finished_at or 0) <= time.monotonic()
    assert recorded.endpoint == "/v1/responses" and recorded.method == "POST"


def test_control_routes_serve_another_process(client: openai.OpenAI, stub: ModelStub) -> None:
    client.responses.create(model="m", instructions="canary-remote-1", input="hello")
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "two"}])
    records = fetch_requests(stub.base_url)
    assert [r.endpoint for r in records] == ["/v1/responses", "/v1/chat/completions"]
    assert records[0].instructions == "canary-remote-1"
    assert records[0].messages == [{"role": "user", "text": "hello"}]
    second_index = records[1].index
    assert [r.index for r in fetch_requests(stub.root_url, since=second_index)] == [second_index]

    settings = configure(stub.base_url, token_delay=0.03, first_token_delay=0.01)
    assert settings["token_delay"] == 0.03
    assert stub.token_delay == 0.03 and stub.first_token_delay == 0.01
    bad = httpx.post(f"{stub.root_url}/_stub/config", json={"token_delay": -1})
    assert bad.status_code == 400
    assert stub.token_delay == 0.03

    clear_requests(stub.base_url)
    assert stub.requests == []
    assert fetch_requests(stub.base_url) == []


def test_models_endpoint(client: openai.OpenAI) -> None:
    assert "stub-model" in [m.id for m in client.models.list()]
    assert client.models.retrieve("anything").id == "anything"


# -- token schedule --------------------------------------------------------------------------


def test_client_gaps_match_recorded_send_gaps(stub: ModelStub) -> None:
    stub.token_delay = 0.05
    body = {"model": "m", "input": "one two three four five six seven", "stream": True}
    events = stream_raw(f"{stub.base_url}/responses", body)
    arrivals = [e.arrived for e in events if e.name == "response.output_text.delta"]
    [recorded] = stub.requests
    send_gaps = recorded.send_gaps
    client_gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(send_gaps) == len(client_gaps) >= 10
    assert recorded.token_delay == 0.05
    assert min(send_gaps) >= 0.05 - 0.002
    assert statistics.median(send_gaps) < 0.05 + 0.02
    differences = [abs(c - s) for c, s in zip(client_gaps, send_gaps, strict=True)]
    assert statistics.median(differences) < 0.02


def test_first_token_delay_holds_back_the_first_delta(stub: ModelStub) -> None:
    stub.token_delay = 0
    stub.first_token_delay = 0.2
    events = stream_raw(
        f"{stub.base_url}/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    [recorded] = stub.requests
    assert recorded.delta_send_times[0] - recorded.received_at >= 0.2
    assert events[1].arrived - events[0].arrived >= 0.15


def test_stub_restarts_on_a_new_port() -> None:
    stub = ModelStub()
    with pytest.raises(RuntimeError):
        _ = stub.base_url
    with stub:
        first = stub.base_url
        assert httpx.get(f"{first}/models").status_code == 200
    assert not stub.running
    with stub:
        assert httpx.get(f"{stub.base_url}/models").status_code == 200
    with pytest.raises(ValueError):
        stub.token_delay = -1


def test_client_disconnect_mid_stream_is_recorded(stub: ModelStub) -> None:
    stub.token_delay = 0.05
    body = {"model": "m", "input": "a b c d e f g h i j k l", "stream": True}
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", f"{stub.base_url}/responses", json=body) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("event: response.output_text.delta"):
                break
    deadline = time.monotonic() + 5
    while stub.requests[0].finished_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    [recorded] = stub.requests
    assert recorded.client_disconnected is True
    assert len(recorded.delta_send_times) < len((recorded.reply or "").split())
    stub.token_delay = 0
    assert httpx.post(f"{stub.base_url}/responses", json={"model": "m", "input": "x"}).is_success
