"""items.feedback: thumbs up and down on a reply. Judgments only (harness/probes/feedback.py)."""

from __future__ import annotations

from harness.engine.expect import json_ok
from harness.engine.offers import refused_cleanly, require_offered
from harness.engine.preconditions import CREATE, needs_thread
from harness.probes.feedback import Feedback
from harness.registry import MUST, check
from harness.report.results import blocked, untestable

REF = "openai-chatkit 1.6.5 chatkit/server.py add_feedback, ItemsFeedbackReq"


def _offered(ev: Feedback) -> None:
    needs_thread(ev.created)
    if ev.item_id is None:
        blocked(CREATE, "threads.create streamed no assistant message to rate")
    require_offered(ev.positive, "feedback", CREATE)


@check(
    id="feedback.accepted",
    title="Feedback on an own reply is accepted, and so is a changed vote",
    level=MUST,
    pitfall="Feedback stored with a plain INSERT under a (user, item) unique key: the user who "
    "changes thumbs up to thumbs down gets a 500.",
    fix="Upsert one vote per user and item; answer {}.",
    ref=REF,
    probes=["feedback"],
)
def test_accepted(evidence) -> None:
    ev: Feedback = evidence["feedback"]
    _offered(ev)
    assert ev.positive is not None and ev.negative is not None
    json_ok(ev.positive, "items.feedback (positive)")
    json_ok(ev.negative, "items.feedback changing the vote to negative")


@check(
    id="feedback.bad-input",
    title="Feedback on an item that is not in the thread is refused",
    level=MUST,
    pitfall="Feedback is stored for any id: the table fills with votes on nothing, and the "
    "analytics built on it count them.",
    fix="Check each item id belongs to the thread (404 otherwise).",
    ref=REF,
    probes=["feedback"],
)
def test_bad_input(evidence) -> None:
    ev: Feedback = evidence["feedback"]
    _offered(ev)
    refused_cleanly(ev.unknown, "items.feedback on an unknown item")


@check(
    id="feedback.isolated",
    title="User B cannot vote on user A's reply",
    level=MUST,
    pitfall="add_feedback trusts the thread id in the request: any user can vote on (and learn "
    "the existence of) any thread's items.",
    fix="Load the thread for the authenticated user before storing feedback.",
    ref=REF,
    probes=["feedback"],
)
def test_isolated(evidence) -> None:
    ev: Feedback = evidence["feedback"]
    _offered(ev)
    if ev.other_user is None:
        untestable("needs a second user (--token-b)")
    refused_cleanly(ev.other_user, "user B's feedback on user A's item")
