"""The stop button: stream cancellation as openai-chatkit 1.6.5 implements it.

ChatKitServer._process_events catches the cancellation, stores the pending assistant message
if it has text, and adds a hidden SDKHiddenContextItem telling the model the user stopped
the reply (handle_stream_cancelled). Judgments only: evidence from harness/probes/cancel.py.
"""

from __future__ import annotations

from harness.engine import hints
from harness.engine.expect import evidence_of, stream_ok
from harness.engine.preconditions import CREATE, needs_stream, needs_thread
from harness.probes.cancel import SENT, Cancel
from harness.probes.features import item_text, page_items
from harness.protocol.client import RecordedStream
from harness.registry import MUST, SHOULD, check
from harness.report.results import fail, untestable

REF = "openai-chatkit 1.6.5 chatkit/server.py _process_events, handle_stream_cancelled"
HIDDEN = ("sdk_hidden_context", "hidden_context_item")


def _mentions_stop(text: str) -> bool:
    """A model input text that tells of the stop: not one of the harness's own messages."""
    low = text.lower()
    if any(sent.lower() in low for sent in SENT):
        return False
    return "cancel" in low or "stopped" in low


def _stopped(ev: Cancel) -> RecordedStream:
    needs_thread(ev.created)
    rec = needs_stream(ev.stopped, CREATE, "threads.add_user_message (to be stopped)")
    if not rec.cancelled:
        untestable("the reply ended before the harness could stop it (fewer than 3 deltas)")
    return rec


@check(
    id="cancel.stream-options",
    title="Streams announce stream_options with allow_cancel true",
    level=SHOULD,
    pitfall="A backend that sends no stream_options event, or allow_cancel false, gets no stop "
    "button in the composer: users cannot interrupt a runaway answer.",
    fix="Keep ChatKitServer.get_stream_options' default StreamOptions(allow_cancel=True), or "
    "return it from your override.",
    ref=f"{REF}; chatkit/types.py StreamOptionsEvent",
    probes=["first-turn", "cancel"],
)
def test_stream_options(evidence) -> None:
    rec = stream_ok(evidence["first-turn"], "threads.create")
    options = [p.get("stream_options") for p in rec.of_type("stream_options")]
    if not options or not all(
        isinstance(o, dict) and o.get("allow_cancel") is True for o in options
    ):
        fail(
            "the stream does not allow cancelling",
            expected='a {"type": "stream_options", "stream_options": {"allow_cancel": true}} event',
            actual=f"stream_options events: {options or 'none'}",
            evidence=evidence_of(rec),
        )


@check(
    id="cancel.partial-kept",
    title="A stopped reply keeps its partial text in the thread, as the SDK stores it",
    level=MUST,
    pitfall="The cleanup after a stop runs inside the cancelled request (anyio cancel scopes "
    "cancel every later await too), so nothing is saved: the reply the user saw vanishes on "
    "reload, and the model continues the stopped answer next turn.",
    fix="Let handle_stream_cancelled run (shield it: anyio.CancelScope(shield=True) around "
    "super().handle_stream_cancelled(...) when you override it).",
    ref=REF,
    probes=["cancel"],
)
def test_partial_kept(evidence) -> None:
    ev: Cancel = evidence["cancel"]
    _stopped(ev)
    rows = page_items(ev.items)
    users = [n for n, r in enumerate(rows) if r.get("type") == "user_message"]
    tail = rows[users[-1] + 1 :] if users else []
    partial = [r for r in tail if r.get("type") == "assistant_message" and item_text(r).strip()]
    if not partial:
        fail(
            "the stopped reply was not stored",
            expected="an assistant_message with the partial text after the stopped user message",
            actual=f"items after it: {[r.get('type') for r in tail] or 'none'}",
            evidence=evidence_of(ev.items) if ev.items else "items.list was not read",
        )


@check(
    id="cancel.next-turn-works",
    title="After a stop, the next turn on the same thread streams a reply",
    level=MUST,
    pitfall="A per-thread 'generating' flag or lock released only when a stream ends normally "
    "leaves the thread locked after every stop: the user's next message fails.",
    fix="Release per-thread state in a finally block (or do not keep any: the SDK needs none).",
    ref=REF,
    probes=["cancel"],
)
def test_next_turn(evidence) -> None:
    ev: Cancel = evidence["cancel"]
    _stopped(ev)
    assert ev.next_turn is not None
    rec = stream_ok(ev.next_turn, "threads.add_user_message after a stop")
    if not rec.assistant_text:
        fail("the turn after a stop got no reply", evidence=evidence_of(rec))
    if ev.after is not None and ev.after.status >= 500:
        fail(
            "items.list failed after a stop",
            actual=f"HTTP {ev.after.status}",
            evidence=evidence_of(ev.after),
        )


@check(
    id="cancel.hidden-not-listed",
    title="The SDK's hidden 'cancelled' note never reaches the client",
    level=MUST,
    pitfall="items.list written by hand returns hidden context items; the client renders an "
    "unknown item type or shows internal notes to the user.",
    fix="Filter HiddenContextItem and SDKHiddenContextItem from items.list (ChatKitServer does).",
    ref=f"{REF}; _process_non_streaming (items.list)",
    probes=["cancel"],
)
def test_hidden_not_listed(evidence) -> None:
    ev: Cancel = evidence["cancel"]
    _stopped(ev)
    for resp in (ev.items, ev.after):
        hidden = [r.get("type") for r in page_items(resp) if r.get("type") in HIDDEN]
        if hidden and resp is not None:
            fail(
                "items.list returned hidden context items",
                expected="no hidden_context_item / sdk_hidden_context in items.list",
                actual=f"{len(hidden)} hidden items",
                evidence=evidence_of(resp),
            )


@check(
    id="cancel.model-told",
    title="Glass-box: the model is told the previous reply was stopped",
    level=SHOULD,
    pitfall="Without the SDK's hidden note, the next turn's model input ends with the user's "
    "old question and no answer, and the model picks the stopped answer up again.",
    fix="Keep the SDKHiddenContextItem handle_stream_cancelled stores, and convert it "
    "(ThreadItemConverter.sdk_hidden_context_to_input does).",
    ref=REF,
    probes=["cancel"],
)
def test_model_told(evidence) -> None:
    ev: Cancel = evidence["cancel"]
    if ev.calls is None:
        untestable(f"needs glass-box mode ({hints.flag('model-stub')})")
    _stopped(ev)
    told = [c for c in ev.calls if any(_mentions_stop(t) for t in c.user_texts())]
    if not told:
        fail(
            "no model request after the stop mentions the cancellation",
            expected="the next turn's input carries the SDK's 'The user cancelled the stream' note",
            actual=f"{len(ev.calls)} model requests, none with it",
            evidence="\n".join(" | ".join(t[:100] for t in c.user_texts()) for c in ev.calls[:4]),
        )
