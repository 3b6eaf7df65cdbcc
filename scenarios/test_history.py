"""History: does the agent remember the conversation?

Seed, Common Pitfalls: "History not in prompt | Agent doesn't remember conversation".
chatkit-python #23: only the new message was converted. The probe plants a codeword in turn 1,
talks about something else in turn 2, and asks for it in turn 3; a fresh thread asking the same
must not know it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest_asyncio

from harness.engine.expect import evidence_of, json_ok, stream_ok
from harness.glass.canary import Vote, codeword, vote
from harness.protocol.client import ChatKitClient, RecordedStream
from harness.registry import MUST, check
from harness.report.results import fail
from harness.target.config import Target

PITFALL = (
    "respond() passes only the new message to the agent (chatkit-python #23), so the agent "
    "forgets everything said before."
)
FIX = (
    "In respond(), load the thread's items (store.load_thread_items(thread.id, None, 20, "
    "'desc'), reversed), convert them with simple_to_agent_input and run the agent on that list; "
    "the new message is already stored, do not append it twice. If history is loaded only "
    "under some inference options (a model or tool picked in the composer), load it on every "
    'path, or test that path with --inference-options \'{"model": "..."}\'.'
)
REF = "seed: Common Pitfalls 'History not in prompt'; openai/chatkit-python#23"

ASK = "What was the codeword I gave you at the start? Reply with the codeword only."


@dataclass
class HistoryProbe:
    word: str
    recall: Vote
    control: Vote
    turns: list[RecordedStream]
    controls: list[RecordedStream]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def history_probe(chatkit_client: ChatKitClient, chatkit_target: Target) -> HistoryProbe:
    word = codeword()
    turns: list[RecordedStream] = []
    controls: list[RecordedStream] = []

    async def recall() -> str:
        first = await chatkit_client.create_thread(
            f"Remember this codeword for later: {word}. Just reply OK."
        )
        turns.append(first)
        tid = first.thread_id
        if not tid or first.status != 200:
            return ""
        turns.append(await chatkit_client.add_user_message(tid, "What is two plus two?"))
        third = await chatkit_client.add_user_message(tid, ASK)
        turns.append(third)
        return third.assistant_text

    async def control() -> str:
        rec = await chatkit_client.create_thread(ASK)
        controls.append(rec)
        return rec.assistant_text

    repeat = chatkit_target.repeat
    return HistoryProbe(
        word, await vote(recall, word, repeat), await vote(control, word, repeat), turns, controls
    )


def _replies(v: Vote) -> str:
    return "\n".join(f"reply {i + 1}: {r[:300]!r}" for i, r in enumerate(v.replies))


@check(
    id="history.recall",
    title="The agent remembers earlier turns of the conversation",
    level=MUST,
    pitfall=PITFALL,
    fix=FIX,
    ref=REF,
)
async def test_recall(history_probe: HistoryProbe) -> None:
    for rec in history_probe.turns[:3]:
        stream_ok(rec, rec.request_type)
    if not history_probe.recall.majority:
        fail(
            "the codeword from turn 1 was not in the turn-3 reply",
            expected=f"a reply containing {history_probe.word!r}",
            actual=f"{history_probe.recall.hits} of {history_probe.recall.runs} replies had it",
            evidence=_replies(history_probe.recall),
        )


@check(
    id="history.fresh-thread-control",
    title="A new thread does not know another thread's codeword",
    level=MUST,
    pitfall="History leaks across threads (a store query that ignores the thread id, or a "
    "global memory), so users see other conversations and recall checks pass for the wrong "
    "reason.",
    fix="Load history with the thread id of the current request only.",
    ref=REF,
)
async def test_fresh_thread_control(history_probe: HistoryProbe) -> None:
    for rec in history_probe.controls:  # a control that never answered proves nothing
        stream_ok(rec, "threads.create in a fresh thread")
        if not rec.assistant_text:
            fail("the fresh thread got no assistant reply", evidence=evidence_of(rec))
    if history_probe.control.hits:
        fail(
            "a fresh thread answered with the codeword of another thread",
            expected=f"no {history_probe.word!r} in a new thread",
            actual=f"{history_probe.control.hits} of {history_probe.control.runs} replies had it",
            evidence=_replies(history_probe.control),
        )


@check(
    id="history.persisted",
    title="items.list shows every turn, in order",
    level=MUST,
    pitfall="Turns are streamed but not stored (or stored out of order), so the history the "
    "agent loads next time is incomplete.",
    fix="Persist every thread.item.done (ChatKitServer does via Store.add_thread_item) and "
    "order items by creation time.",
    ref="chatkit/store.py load_thread_items; seed: Database Persistence",
)
async def test_persisted(history_probe: HistoryProbe, chatkit_client: ChatKitClient) -> None:
    first = stream_ok(history_probe.turns[0], "threads.create")
    tid = first.thread_id
    assert tid is not None
    resp = await chatkit_client.list_items(tid)
    data = json_ok(resp, "items.list")
    kinds = [i.get("type") for i in data.get("data", [])]
    expected = ["user_message", "assistant_message"] * 3
    if [k for k in kinds if k in ("user_message", "assistant_message")] != expected:
        fail(
            "the stored thread does not hold the three turns in order",
            expected=" ".join(expected),
            actual=" ".join(map(str, kinds)) or "no items",
            evidence=evidence_of(resp),
        )
