"""Glass box: what the deployment actually sends its model, read at the model stub.

Run with --model-stub (the harness starts the target on its OpenAI-compatible stub) or
--model-stub-url (a stub you run for your deployment). The black-box history and metadata
checks judge the agent's reply; these read the exact prompt, so they also catch what a reply
cannot show: a message sent twice, a history of object reprs, a token in the system prompt.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from harness.engine.expect import evidence_of, json_ok, stream_ok
from harness.glass.box import GlassBox
from harness.glass.canary import metadata
from harness.glass.model_input import (
    Turn,
    history_outline,
    history_problem,
    missing_context,
    model_text,
    secret_leaks,
)
from harness.glass.model_stub import RecordedModelRequest, tokenize
from harness.glass.pacing import compare
from harness.protocol.client import ChatKitClient, JsonResponse, RecordedStream
from harness.registry import MUST, SHOULD, check
from harness.report.redact import redact_text
from harness.report.results import fail, untestable
from harness.target.config import Target

NEEDS_STUB = (
    "glass-box checks need the model stub: pass --model-stub (the harness starts the target on "
    "it) or --model-stub-url (a stub you run: chatkit-harness model-stub --port P)"
)
TURNS = 3
# The schedule of the first turn, which the pass-through check compares with what arrives:
# slower than the session's, so the gaps stand well above scheduler noise.
PACED_TOKEN_DELAY = 0.02
REF_HISTORY = "seed: Common Pitfalls 'History not in prompt'; openai/chatkit-python#23"


@dataclass
class GlassTurn:
    turn: Turn
    rec: RecordedStream
    started: float  # time.monotonic() just before the request went out
    calls: list[RecordedModelRequest]  # every model call made while the turn ran
    answer: RecordedModelRequest | None  # the call whose reply the user was shown


@dataclass
class GlassProbe:
    box: GlassBox
    user_name: str
    page_title: str
    turns: list[GlassTurn] = field(default_factory=list)
    items: JsonResponse | None = None
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def calls(self) -> list[RecordedModelRequest]:
        return [c for t in self.turns for c in t.calls]

    def endpoint(self) -> str:
        used = Counter(c.endpoint for c in self.calls)
        return used.most_common(1)[0][0] if used else "(none)"

    def scrub(self, text: str) -> str:
        return redact_text(text, list(self.secrets.values()))


def _turn_text(k: int, marker: str) -> str:
    # Two lines on purpose: repr() writes the newline as '\n', so a history built from object
    # reprs cannot contain the message verbatim, while real text always does.
    return f"Glass-box turn {k} of {TURNS}, marker {marker}.\nSecond line: please answer briefly."


def _answer(
    calls: list[RecordedModelRequest], turn: Turn, shown: str
) -> RecordedModelRequest | None:
    """The model call that produced the reply the user saw for ``turn``."""
    asked = [c for c in calls if c.user_texts() and turn.user in c.user_texts()[-1]]
    asked = asked or [c for c in calls if turn.marker in model_text(c)]
    shown_flat = " ".join(shown.split())
    answered = [c for c in asked if c.reply and " ".join(c.reply.split()) in shown_flat]
    pick = answered or asked or calls
    return pick[-1] if pick else None


def _secrets_of(target: Target) -> dict[str, str]:
    found = {
        "the test user's access token": target.token,
        "the second user's access token": target.token_b,
        "the session cookie": target.cookie,
    }
    for name, value in {**target.headers, **target.user_headers_a}.items():
        if name.lower() in ("authorization", "cookie", "x-api-key", "api-key"):
            found[f"the {name} header"] = value.split(" ", 1)[-1]
    return {what: value for what, value in found.items() if value}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def glass_probe(
    request: pytest.FixtureRequest, chatkit_client: ChatKitClient, chatkit_target: Target
) -> GlassProbe | None:
    box: GlassBox | None = request.getfixturevalue("chatkit_model_stub")
    if box is None:
        return None
    nonce = secrets.token_hex(3)
    probe = GlassProbe(box, f"User canary-name-{nonce}", f"Page canary-title-{nonce}")
    probe.secrets = _secrets_of(chatkit_target)
    ctx = metadata("harness-glass-user", probe.user_name, probe.page_title)
    thread_id: str | None = None
    for k in range(1, TURNS + 1):
        marker = f"canary-turn{k}-{nonce}"
        text = _turn_text(k, marker)
        since = await asyncio.to_thread(box.mark)
        started = time.monotonic()
        if k == 1:
            with box.schedule(PACED_TOKEN_DELAY):
                rec = await chatkit_client.create_thread(text, context=ctx)
            thread_id = rec.thread_id
        else:
            rec = await chatkit_client.add_user_message(thread_id or "", text, context=ctx)
        calls = await asyncio.to_thread(box.calls, since)
        turn = Turn(text, rec.assistant_text, marker)
        probe.turns.append(GlassTurn(turn, rec, started, calls, _answer(calls, turn, turn.reply)))
        if rec.status != 200 or not thread_id:
            break
    if thread_id:
        probe.items = await chatkit_client.list_items(thread_id)
    return probe


def _ready(probe: GlassProbe | None) -> GlassProbe:
    """The probe, its turns streamed, and the target really talking to the stub."""
    if probe is None:
        untestable(NEEDS_STUB)
    for t in probe.turns:
        stream_ok(t.rec, t.rec.request_type)
    if not probe.calls:
        untestable(
            f"the target sent no request to the model stub at {probe.box.base_url}: it does "
            "not take its model's address from OPENAI_BASE_URL (or was started before the stub)"
        )
    return probe


def _answered(probe: GlassProbe, t: GlassTurn, k: int) -> RecordedModelRequest:
    if t.answer is None:
        fail(
            f"turn {k} made no model call",
            expected="one call to the model per user message",
            actual=f"{len(t.calls)} model calls while turn {k} ran",
            evidence=evidence_of(t.rec),
        )
    return t.answer


def _prompt_evidence(probe: GlassProbe, req: RecordedModelRequest) -> str:
    lines = [f"model call #{req.index}: POST {req.endpoint} (model {req.model})"]
    lines.append("instructions: " + probe.scrub(repr((req.instructions or "")[:600])))
    for i, m in enumerate(req.messages, 1):
        lines.append(f"message {i} ({m.get('role')}): {probe.scrub(repr(m.get('text', '')[:200]))}")
    return "\n".join(lines)


@check(
    id="glass.history-in-prompt",
    title="Each turn's model input holds the earlier turns in order, each exactly once",
    level=MUST,
    pitfall="respond() sends the model only the new message (chatkit-python #23), appends the "
    "new message a second time after the history, or builds the seed's history string from "
    "object reprs (f'{item.role}: {item.content}') instead of the messages' text.",
    fix="Load the thread's items (they already end with the new message), convert them with "
    "simple_to_agent_input and pass that list to Runner.run_streamed; do not append the input "
    "message again, and never format ThreadItem objects into a prompt.",
    ref=REF_HISTORY,
)
async def test_history_in_prompt(glass_probe: GlassProbe | None) -> None:
    probe = _ready(glass_probe)
    turns = [t.turn for t in probe.turns]
    for k, t in enumerate(probe.turns, 1):
        req = _answered(probe, t, k)
        problem = history_problem(req, turns[:k])
        if problem:
            fail(
                problem,
                expected=f"turn {k}'s model input: "
                + ", ".join([f"message {i}, reply {i}" for i in range(1, k)] + [f"message {k}"]),
                actual=f"turn {k}'s model input:\n" + history_outline(req, turns[:k]),
                evidence=_prompt_evidence(probe, req),
            )


@check(
    id="glass.context-in-prompt",
    title="The user's name and the page context reach the model's instructions or input",
    level=MUST,
    pitfall="The custom fetch sends userInfo and pageContext, but the backend reads them from "
    "somewhere the SDK never fills (context.metadata), so the model is never told who is "
    "asking or from which page.",
    fix="Read params.input.metadata (and context headers) from the raw body before "
    "server.process(), carry it in the request context, and write it into the agent's "
    "instructions on every turn.",
    ref="seed: Common Pitfalls 'Context not transmitted'",
)
async def test_context_in_prompt(glass_probe: GlassProbe | None) -> None:
    probe = _ready(glass_probe)
    for k, t in enumerate(probe.turns, 1):
        req = _answered(probe, t, k)
        missing = missing_context(req, [probe.user_name, probe.page_title])
        if missing:
            fail(
                f"turn {k}'s model call lacks the context the client sent",
                expected=f"{probe.user_name!r} and {probe.page_title!r} in the instructions "
                "or the input",
                actual="missing: " + ", ".join(repr(m) for m in missing),
                evidence=_prompt_evidence(probe, req),
            )


@check(
    id="glass.no-secret-in-prompt",
    title="No access token, cookie or JWT is sent to the model",
    level=SHOULD,
    pitfall="The seed's MCP pattern formats the user's access token into the system prompt so "
    "the model can pass it to tools: the token goes to the model provider, lands in its logs "
    "and traces, and any prompt injection can make the model reveal it.",
    fix="Keep credentials out of the prompt: give tools the token server-side (a closure over "
    "the request context, or MCP server headers set by your backend, e.g. "
    "MCPServerStreamableHttp(params={'headers': {...}})), so the model never sees it.",
    ref="seed: 'Authentication Context' SYSTEM_PROMPT.format(access_token=...); OWASP LLM02 "
    "Sensitive Information Disclosure",
)
async def test_no_secret_in_prompt(glass_probe: GlassProbe | None) -> None:
    probe = _ready(glass_probe)
    for req in probe.calls:
        leaks = secret_leaks(req, probe.secrets)
        if leaks:
            first = leaks[0]
            fail(
                f"{first.what} was sent to the model, in {first.where}",
                expected="no token, cookie or JWT in the instructions, messages or tools",
                actual="; ".join(f"{leak.what} in {leak.where}" for leak in leaks[:5]),
                evidence=f"model call #{req.index} (POST {req.endpoint}), {first.where}: "
                f"…{first.excerpt}…",
            )


@check(
    id="glass.stream-pass-through",
    title="The model's tokens reach the client as the model streams them",
    level=MUST,
    pitfall="Somewhere between the model and the browser the answer is held back: the model is "
    "called without streaming (Runner.run), the server collects the events before sending, or "
    "a proxy or gzip layer buffers; the user sees nothing, then everything.",
    fix="Use Runner.run_streamed with stream_agent_response and return the SDK's stream as a "
    "StreamingResponse; turn off proxy buffering and compression for text/event-stream.",
    ref="openai-agents Runner.run_streamed; chatkit.agents stream_agent_response",
)
async def test_stream_pass_through(glass_probe: GlassProbe | None) -> None:
    probe = _ready(glass_probe)
    t = probe.turns[0]
    req = _answered(probe, t, 1)
    if not req.stream:
        fail(
            "the target asked its model for a non-streamed answer",
            expected="a streaming model call (stream: true)",
            actual=f"POST {req.endpoint} without stream; the reply can only be sent when whole",
            evidence=_prompt_evidence(probe, req),
        )
    arrivals = [
        (t.started + e.t, str(e.json.get("update", {}).get("delta", "")))
        for e in t.rec.events
        if e.json
        and e.type == "thread.item.updated"
        and e.json.get("update", {}).get("type") == "assistant_message.content_part.text_delta"
    ]
    result = compare(req.delta_send_times, tokenize(req.reply or ""), arrivals)
    if not result.judgeable:
        untestable(f"the model stub's reply was too short to judge ({result.describe()})")
    if result.held_back:
        fail(
            "the model's stream was held back before it reached the client",
            expected=f"text deltas arriving on the model's schedule (one every "
            f"{PACED_TOKEN_DELAY * 1000:.0f} ms)",
            actual=result.describe(),
            evidence=evidence_of(t.rec),
        )


@check(
    id="glass.unique-message-ids",
    title="Every model reply becomes its own assistant item, with its own id",
    level=MUST,
    pitfall="On the Chat Completions path openai-agents gives every message the id "
    "'__fake_id__' (chatkit-python #36); stream_agent_response reuses it, so each reply "
    "overwrites the last in the store and the next turn's history is wrong.",
    fix="Replace model-supplied ids with store.generate_item_id('message', thread, context) "
    "before items are saved (or use the Responses API model, whose ids are unique).",
    ref="openai/chatkit-python#36; openai-agents FAKE_RESPONSES_ID",
)
async def test_unique_message_ids(glass_probe: GlassProbe | None) -> None:
    probe = _ready(glass_probe)
    streamed: list[tuple[int, str, str]] = []  # (turn, item id, text) of each finished reply
    for k, t in enumerate(probe.turns, 1):
        _answered(probe, t, k)
        for p in t.rec.of_type("thread.item.done"):
            item = p.get("item", {})
            if item.get("type") == "assistant_message":
                streamed.append((k, str(item.get("id")), _text_of(item)))
    path = f"the model calls went to {probe.endpoint()}"
    if not streamed:
        fail(
            "the model's replies never became assistant messages",
            expected="a thread.item.done with an assistant_message per turn",
            actual=f"none in {len(probe.turns)} turns ({path})",
            evidence=evidence_of(probe.turns[0].rec),
        )
    counts = Counter(i for _, i, _ in streamed)
    repeated = [i for i, n in counts.items() if n > 1]
    if repeated:
        turns = [k for k, i, _ in streamed if i == repeated[0]]
        fail(
            "assistant replies of different turns share one item id",
            expected="a distinct id for each assistant message",
            actual=f"turns {', '.join(map(str, turns))} all answered with id {repeated[0]!r} "
            f"({path})",
            evidence="\n".join(f"turn {k}: assistant item {i!r}" for k, i, _ in streamed),
        )
    if probe.items is None:
        return
    data = json_ok(probe.items, "items.list")
    stored = [i for i in data.get("data", []) if i.get("type") == "assistant_message"]
    kept = {str(i.get("id")): " ".join(_text_of(i).split()) for i in stored}
    lost = [k for k, i, text in streamed if kept.get(i) != " ".join(text.split())]
    if lost or len(kept) != len(stored):
        fail(
            "the store does not keep every reply as its own item",
            expected=f"{len(streamed)} stored assistant messages, one per streamed reply",
            actual=f"{len(stored)} stored, ids {[i.get('id') for i in stored]}; the replies of "
            f"turns {sorted(set(lost)) or '-'} are not stored as streamed ({path})",
            evidence=evidence_of(probe.items),
        )


def _text_of(item: dict[str, object]) -> str:
    content = item.get("content")
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
