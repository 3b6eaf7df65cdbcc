"""Both openai-agents model classes stream through the model stub inside the reference server.

``--model openai`` is OpenAIResponsesModel (POST /v1/responses), ``--model openai-chat`` is
OpenAIChatCompletionsModel (POST /v1/chat/completions); each server runs as a real subprocess
with OPENAI_BASE_URL pointing at one in-process stub, as glass-box mode starts targets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from harness.glass.box import SESSION_TOKEN_DELAY, GlassBox
from harness.glass.model_stub import RecordedModelRequest
from harness.protocol.client import ChatKitClient, RecordedStream
from harness.target.config import Target
from harness.target.launch import Launched, start_reference_server
from reference_server.dev_issuer import mint_dev_token

pytestmark = pytest.mark.slow

ENDPOINT = {"openai": "/v1/responses", "openai-chat": "/v1/chat/completions"}
FIRST = "First turn, marker canary-agents-1."
SECOND = "Second turn, marker canary-agents-2."


@dataclass
class Conversation:
    turns: list[RecordedStream]
    calls: list[RecordedModelRequest]


@pytest.fixture(scope="module")
def box() -> Iterator[GlassBox]:
    stub = GlassBox.start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def servers(
    box: GlassBox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Launched], str]]:
    key = tmp_path_factory.mktemp("dev-key") / "dev.pem"
    token = mint_dev_token("alice", key_path=key)

    def start(model: str) -> Launched:
        args = ["--db", ":memory:", "--model", model, "--dev-key", str(key)]
        return start_reference_server(args, env=box.env())

    with ThreadPoolExecutor(max_workers=2) as pool:  # both start at once: ~2 s each
        launched = dict(zip(ENDPOINT, pool.map(start, ENDPOINT), strict=True))
    yield launched, token
    for server in launched.values():
        server.stop()


async def _talk(url: str, token: str) -> list[RecordedStream]:
    async with ChatKitClient(Target(url=url, token=token)) as client:
        first = await client.create_thread(FIRST)
        second = await client.add_user_message(first.thread_id or "", SECOND)
    return [first, second]


@pytest.fixture(scope="module", params=list(ENDPOINT))
def conversation(
    request: pytest.FixtureRequest, box: GlassBox, servers: tuple[dict[str, Launched], str]
) -> tuple[str, Conversation]:
    model: str = request.param
    launched, token = servers
    since = box.mark()
    turns = asyncio.run(_talk(launched[model].url, token))
    return model, Conversation(turns, box.calls(since))


def _deltas(rec: RecordedStream) -> list[str]:
    return [
        str(e.json.get("update", {}).get("delta", ""))
        for e in rec.events
        if e.json and e.json.get("update", {}).get("type", "").endswith("text_delta")
    ]


def test_model_class_calls_its_endpoint_streaming(conversation: tuple[str, Conversation]) -> None:
    model, conv = conversation
    assert [t.status for t in conv.turns] == [200, 200]
    assert [c.endpoint for c in conv.calls] == [ENDPOINT[model]] * 2
    for call in conv.calls:
        assert call.stream and call.status_code == 200 and call.error is None
        assert call.model == "gpt-4.1-mini"  # the reference server's --openai-model default
        assert call.headers["authorization"] == "Bearer ***"  # the key was sent, and redacted
        assert (call.instructions or "").startswith("You are the ChatKit reference assistant.")


def test_every_stub_token_reaches_the_client_as_its_own_delta(
    conversation: tuple[str, Conversation],
) -> None:
    _, conv = conversation
    for rec, call in zip(conv.turns, conv.calls, strict=True):
        deltas = _deltas(rec)
        assert call.reply and "".join(deltas) == call.reply == rec.assistant_text
        assert len(deltas) == len(call.delta_send_times) > 10
        # The stub's schedule: one delta per token_delay, never bunched.
        gaps = call.send_gaps
        assert min(gaps) >= 0.8 * SESSION_TOKEN_DELAY and sorted(gaps)[len(gaps) // 2] < 0.05


def test_second_call_carries_the_conversation(conversation: tuple[str, Conversation]) -> None:
    _, conv = conversation
    first, second = conv.calls
    assert [m["role"] for m in first.messages] == ["user"]
    assert first.messages[0]["text"] == FIRST
    assert second.messages == [
        {"role": "user", "text": FIRST},
        {"role": "assistant", "text": first.reply},
        {"role": "user", "text": SECOND},
    ]


def test_assistant_items_keep_distinct_ids(conversation: tuple[str, Conversation]) -> None:
    # The Chat Completions path hands ChatKit '__fake_id__' for every message; the reference
    # server replaces it, so both paths store one item per reply.
    _, conv = conversation
    ids = [
        p["item"]["id"]
        for rec in conv.turns
        for p in rec.of_type("thread.item.done")
        if p["item"]["type"] == "assistant_message"
    ]
    assert len(ids) == 2 and len(set(ids)) == 2 and "__fake_id__" not in ids


def test_stub_key_and_base_url_are_what_the_target_gets(box: GlassBox) -> None:
    env = box.env()
    assert env["OPENAI_BASE_URL"] == box.base_url and box.base_url.endswith("/v1")
    assert env["OPENAI_API_KEY"] == "harness-stub"
