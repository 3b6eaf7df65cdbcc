"""History: does the agent remember the conversation?

Seed, Common Pitfalls: "History not in prompt | Agent doesn't remember conversation".
chatkit-python #23: only the new message was converted. The probe plants a codeword in turn 1,
talks about something else in turn 2, and asks for it in turn 3; a fresh thread asking the same
must not know it.
"""

from __future__ import annotations

from harness.engine.expect import evidence_of, json_ok
from harness.engine.preconditions import CREATE, SECOND_TURN, needs_stream
from harness.glass.canary import Vote
from harness.probes.history import HistoryProbe
from harness.registry import MUST, check
from harness.report.results import fail

PITFALL = (
    "respond() passes only the new message to the agent (chatkit-python #23), so the agent "
    "forgets everything said before."
)
FIX = (
    "In respond(), load the thread's items (store.load_thread_items(thread.id, None, 20, "
    "'desc'), reversed), convert them with simple_to_agent_input and run the agent on that list; "
    "the new message is already stored, do not append it twice."
)
REF = "seed: Common Pitfalls 'History not in prompt'; openai/chatkit-python#23"


def _replies(v: Vote) -> str:
    return "\n".join(f"reply {i + 1}: {r[:300]!r}" for i, r in enumerate(v.replies))


@check(
    id="history.recall",
    title="The agent remembers earlier turns of the conversation",
    level=MUST,
    pitfall=PITFALL,
    fix=FIX,
    ref=REF,
    probes=["history"],
)
def test_recall(evidence) -> None:
    history_probe: HistoryProbe = evidence["history"]
    _turns_ok(history_probe)
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
    probes=["history"],
)
def test_fresh_thread_control(evidence) -> None:
    history_probe: HistoryProbe = evidence["history"]
    for rec in history_probe.controls:  # a control that never answered proves nothing
        needs_stream(rec, CREATE, "threads.create in a fresh thread")
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
    probes=["history"],
)
def test_persisted(evidence) -> None:
    history_probe: HistoryProbe = evidence["history"]
    _turns_ok(history_probe)
    resp = history_probe.items
    assert resp is not None  # read whenever all three turns streamed
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


def _turns_ok(probe: HistoryProbe) -> None:
    """The three turns streamed (else blocked by the check of that request)."""
    turns = probe.turns
    needs_stream(turns[0] if turns else None, CREATE, "threads.create")
    for rec in turns[1:3]:
        needs_stream(rec, SECOND_TURN, "threads.add_user_message")
    if len(turns) < 3:
        needs_stream(None, SECOND_TURN, "threads.add_user_message")
