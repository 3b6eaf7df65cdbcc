"""Glass box: what the deployment actually sends its model, read at the model stub.

Run with --model-stub (the harness starts the target on its OpenAI-compatible stub) or
--model-stub-url (a stub you run for your deployment). The black-box history and metadata
checks judge the agent's reply; these read the exact prompt, so they also catch what a reply
cannot show: a message sent twice, a history of object reprs, a token in the system prompt.
"""

from __future__ import annotations

from collections import Counter

from harness.engine import hints
from harness.engine.expect import evidence_of, json_ok
from harness.engine.preconditions import CREATE, SECOND_TURN, needs_stream
from harness.glass.model_input import (
    history_outline,
    history_problem,
    missing_context,
    secret_leaks,
)
from harness.glass.model_stub import RecordedModelRequest, tokenize
from harness.glass.pacing import compare
from harness.probes.glass import (
    PACED_TOKEN_DELAY,
    GlassProbe,
    GlassTurn,
    PacedTurn,
    item_text,
    replies_of,
)
from harness.registry import MUST, SHOULD, check
from harness.report.results import fail, untestable


def needs_stub() -> str:
    """Why a glass-box check is not tested, with the options as this interface spells them."""
    return (
        f"glass-box checks need the model stub: pass {hints.flag('model-stub')} (the harness "
        f"starts the target on it) or {hints.flag('model-stub-url')} (a stub you run: "
        "chatkit-harness model-stub --port P)"
    )


REF_HISTORY = "seed: Common Pitfalls 'History not in prompt'; openai/chatkit-python#23"


def _ready(probe: GlassProbe | None) -> GlassProbe:
    """The probe, its turns streamed, and the target really talking to the stub."""
    if probe is None:
        untestable(needs_stub())
    for k, t in enumerate(probe.turns, 1):
        root = CREATE if k == 1 else SECOND_TURN
        needs_stream(t.rec, root, f"glass-box turn {k} ({t.rec.request_type})")
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
    probes=["glass"],
)
def test_history_in_prompt(evidence) -> None:
    probe = _ready(evidence["glass"])
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
    probes=["glass"],
)
def test_context_in_prompt(evidence) -> None:
    probe = _ready(evidence["glass"])
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
    probes=["glass", "glass-pacing"],
)
def test_no_secret_in_prompt(evidence) -> None:
    probe = _ready(evidence["glass"])
    paced: PacedTurn | None = evidence["glass-pacing"]
    # The glass conversation's own turns first, then every other call in arrival order:
    # arrival order alone depends on which probe the engine happened to run first.
    own = {c.index: c for c in probe.calls}
    others = {c.index: c for c in probe.every_call if c.index not in own}
    if paced is not None:
        others.update((c.index, c) for c in paced.turn.calls if c.index not in own)
    for req in [*own.values(), *sorted(others.values(), key=lambda c: c.index)]:
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
    probes=["glass", "glass-pacing"],
)
def test_stream_pass_through(evidence) -> None:
    probe = _ready(evidence["glass"])
    paced: PacedTurn | None = evidence["glass-pacing"]
    assert paced is not None  # recorded whenever the glass probe is
    t = paced.turn
    needs_stream(t.rec, CREATE, "the paced glass-box turn (threads.create)")
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


FIX_SHARED_ID = (
    "Replace model-supplied ids with store.generate_item_id('message', thread, context) "
    "before items are saved (or use the Responses API model, whose ids are unique)."
)
FIX_STORED_TWICE = (
    "Save each item once: ChatKitServer already saves every thread.item.done through "
    "store.add_thread_item, so drop the extra add_thread_item/save_item call for the reply; "
    "and key the items table by (thread_id, id) with a unique constraint, so a second save "
    "replaces the row instead of adding one."
)


@check(
    id="glass.unique-message-ids",
    title="Every model reply becomes its own assistant item, with its own id, stored once",
    level=MUST,
    pitfall="On the Chat Completions path openai-agents gives every message the id "
    "'__fake_id__' (chatkit-python #36); stream_agent_response reuses it, so each reply "
    "overwrites the last in the store and the next turn's history is wrong. Or respond() "
    "saves the reply itself after ChatKitServer already did, and the store keeps both rows.",
    fix=FIX_SHARED_ID,
    ref="openai/chatkit-python#36; openai-agents FAKE_RESPONSES_ID",
    probes=["glass"],
)
def test_unique_message_ids(evidence) -> None:
    probe = _ready(evidence["glass"])
    # One reply per assistant message each turn streamed, with its last done's text: a
    # message finished more than once is still one reply (protocol.item-lifecycle judges that).
    streamed: list[tuple[int, str, str]] = []  # (turn, item id, text)
    for k, t in enumerate(probe.turns, 1):
        _answered(probe, t, k)
        streamed += [(k, i, text) for i, text in replies_of(t.rec)]
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
            "assistant replies of different turns share one item id"
            if len(set(turns)) > 1
            else f"the assistant replies of turn {turns[0]} share one item id",
            expected="a distinct id for each assistant message",
            actual=f"turns {', '.join(map(str, turns))} all answered with id {repeated[0]!r} "
            f"({path})",
            evidence="\n".join(f"turn {k}: assistant item {i!r}" for k, i, _ in streamed),
            fix=FIX_SHARED_ID,
        )
    if probe.items is None:
        return
    data = json_ok(probe.items, "items.list")
    stored = [i for i in data.get("data", []) if i.get("type") == "assistant_message"]
    rows = Counter(str(i.get("id")) for i in stored)
    twice = [(k, i) for k, i, _ in streamed if rows[i] > 1]
    if twice:
        k, item_id = twice[0]
        fail(
            f"the store holds turn {k}'s reply {rows[item_id]} times under its one id",
            expected=f"{len(streamed)} stored assistant messages, one row per streamed reply",
            actual=f"{len(stored)} stored; "
            + ", ".join(f"turn {k}'s {i!r} {rows[i]} times" for k, i in twice)
            + f" ({path})",
            evidence=evidence_of(probe.items),
            fix=FIX_STORED_TWICE,
        )
    kept = {str(i.get("id")): " ".join(item_text(i).split()) for i in stored}
    lost = [k for k, i, text in streamed if kept.get(i) != " ".join(text.split())]
    if lost or len(kept) != len(stored):
        fail(
            "the store does not keep every reply as its own item",
            expected=f"{len(streamed)} stored assistant messages, one per streamed reply",
            actual=f"{len(stored)} stored, ids {[i.get('id') for i in stored]}; the replies of "
            f"turns {sorted(set(lost)) or '-'} are not stored as streamed ({path})",
            evidence=evidence_of(probe.items),
            fix=FIX_SHARED_ID,
        )
