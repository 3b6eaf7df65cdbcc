"""Structured input: threads.add_structured_input. Judgments only
(harness/probes/structured_input.py)."""

from __future__ import annotations

from harness.engine.expect import evidence_of, stream_ok
from harness.engine.offers import needs_trigger, refused_cleanly, require_offered
from harness.probes.features import page_items
from harness.probes.structured_input import Question, StructuredInput
from harness.protocol.client import JsonResponse, RecordedStream
from harness.registry import MUST, check
from harness.report.results import fail, untestable

REF = "openai-chatkit 1.6.5 chatkit/server.py _apply_structured_input_submission"
ROOT = "structured-input.answered"


def _question(ev: StructuredInput, q: Question | None) -> Question:
    needs_trigger(
        ev.prompt,
        "structured-input",
        q is not None and q.item is not None,
        "pending structured_input item",
        ev.hint,
    )
    assert q is not None
    return q


def _status_after(
    rec: RecordedStream | None, after: JsonResponse | None, q: Question, want: str
) -> None:
    require_offered(rec, "structured input", ROOT)
    assert rec is not None
    stream_ok(rec, "threads.add_structured_input")
    stored = next((i for i in page_items(after) if i.get("id") == q.item_id), None)
    if stored is None or stored.get("status") != want:
        fail(
            f"the structured input item is not stored as {want}",
            actual=f"stored status: {stored.get('status') if stored else 'item missing'}",
            evidence=evidence_of(after) if after else "",
        )


@check(
    id="structured-input.answered",
    title="Answers to a pending question are stored and the agent continues",
    level=MUST,
    pitfall="The submission is answered with a reply, but the item stays pending: the form "
    "reappears on reload and the model never sees the answers.",
    fix="Let ChatKitServer apply the submission (it replaces the item, then responds).",
    ref=REF,
    probes=["structured-input"],
)
def test_answered(evidence) -> None:
    ev: StructuredInput = evidence["structured-input"]
    q = _question(ev, ev.answered_q)
    _status_after(ev.answered, ev.answered_after, q, "answered")


@check(
    id="structured-input.skipped",
    title="Skipping a pending question stores it as skipped",
    level=MUST,
    pitfall="Skips are dropped like answers: the question stays pending forever.",
    fix="Apply submissions with status 'skipped' too.",
    ref=REF,
    probes=["structured-input"],
)
def test_skipped(evidence) -> None:
    ev: StructuredInput = evidence["structured-input"]
    q = _question(ev, ev.skipped_q)
    _status_after(ev.skipped, ev.skipped_after, q, "skipped")


@check(
    id="structured-input.not-pending",
    title="A second submission, or one to a non-question item, is refused cleanly",
    level=MUST,
    pitfall="The pending check is skipped: a double click answers twice and runs the agent "
    "twice; a wrong item id is a 500.",
    fix="Refuse items that are not pending StructuredInputItems (400 before streaming).",
    ref=REF,
    probes=["structured-input"],
)
def test_not_pending(evidence) -> None:
    ev: StructuredInput = evidence["structured-input"]
    _question(ev, ev.answered_q)
    require_offered(ev.answered, "structured input", ROOT)
    refused_cleanly(ev.again, "a second submission of the same structured input")
    refused_cleanly(ev.not_structured, "a structured input submission to a user message")


@check(
    id="structured-input.isolated",
    title="User B cannot answer user A's question",
    level=MUST,
    pitfall="Submissions are matched by item id only: another user fills in someone's form.",
    fix="Load thread and item for the authenticated user.",
    ref=REF,
    probes=["structured-input"],
)
def test_isolated(evidence) -> None:
    ev: StructuredInput = evidence["structured-input"]
    _question(ev, ev.answered_q)
    require_offered(ev.answered, "structured input", ROOT)
    if ev.other_user is None or ev.other_q is None:
        untestable("needs a second user (--token-b)")
    refused_cleanly(ev.other_user, "user B's submission to user A's question")
    stored = next(
        (i for i in page_items(ev.other_after) if i.get("id") == ev.other_q.item_id), None
    )
    if stored is None or stored.get("status") != "pending":
        fail(
            "user B's submission changed user A's question",
            evidence=evidence_of(ev.other_after) if ev.other_after else "",
        )
