"""threads.retry_after_item: "retry" on an earlier user message.

Judgments only: evidence from harness/probes/retry.py.
"""

from __future__ import annotations

from harness.engine.expect import evidence_of, stream_ok
from harness.engine.offers import refused_cleanly, require_offered
from harness.engine.preconditions import CREATE, needs_thread
from harness.probes.features import done_items, page_items
from harness.probes.retry import Retry
from harness.registry import MUST, check
from harness.report.results import blocked, fail, untestable

REF = "openai-chatkit 1.6.5 chatkit/server.py _process_streaming_impl (ThreadsRetryAfterItemReq)"
ROOT = "retry.replaces-newer"


def _offered(ev: Retry) -> None:
    needs_thread(ev.created)
    require_offered(ev.retried, "retry", CREATE)


@check(
    id="retry.replaces-newer",
    title="Retry after a user message removes every newer item and streams one new reply",
    level=MUST,
    pitfall="A hand-written retry re-runs the model but keeps the items after the message: the "
    "thread then holds two answers and a question the user took back.",
    fix="Delete every item newer than the user message, then respond to it (ChatKitServer "
    "does both for threads.retry_after_item).",
    ref=REF,
    probes=["retry"],
)
def test_replaces_newer(evidence) -> None:
    ev: Retry = evidence["retry"]
    _offered(ev)
    assert ev.retried is not None
    rec = stream_ok(ev.retried, "threads.retry_after_item")
    replies = done_items(rec, "assistant_message")
    if len(replies) != 1:
        fail(
            "retry did not stream exactly one new reply",
            actual=f"{len(replies)} assistant messages",
            evidence=evidence_of(rec),
        )
    rows = page_items(ev.after)
    ids = [str(r.get("id")) for r in rows]
    newer = {str(i.get("id")) for i in done_items(ev.second)}
    left = [i for i in ids if i in newer]
    if ev.first_user not in ids or left or str(replies[0].get("id")) not in ids:
        fail(
            "after the retry the thread does not end with the retried message and its new reply",
            expected="the first user message, then only the new reply",
            actual=f"{len(left)} items of the later turn still listed; "
            f"items: {[r.get('type') for r in rows]}",
            evidence=evidence_of(ev.after) if ev.after else "",
        )


@check(
    id="retry.bad-item",
    title="Retry on an unknown item or on a reply is refused, never a 500 or a silent 200",
    level=MUST,
    pitfall="Without a check the SDK walks the whole thread, finds nothing and streams an empty "
    "200: the client spins forever. A reply id raises inside the stream: a 500.",
    fix="Check the item exists and is a user message before streaming (404 / 400).",
    ref=REF,
    probes=["retry"],
)
def test_bad_item(evidence) -> None:
    ev: Retry = evidence["retry"]
    _offered(ev)
    refused_cleanly(ev.unknown, "threads.retry_after_item on an unknown item")
    refused_cleanly(ev.not_user, "threads.retry_after_item on an assistant message")


@check(
    id="retry.isolated",
    title="User B cannot retry in user A's thread",
    level=MUST,
    pitfall="Retry loads the thread by id without the user: anyone can rewrite anyone's history.",
    fix="Scope every store read by the authenticated user.",
    ref=REF,
    probes=["retry"],
)
def test_isolated(evidence) -> None:
    ev: Retry = evidence["retry"]
    _offered(ev)
    if ev.other_user is None:
        untestable("needs a second user (--token-b)")
    if ev.after_other is None or ev.after_other.status != 200:
        blocked(ROOT, "items.list after user B's retry did not answer 200")
    refused_cleanly(ev.other_user, "user B's retry in user A's thread")
    before = [r.get("id") for r in page_items(ev.after)]
    now = [r.get("id") for r in page_items(ev.after_other)]
    if before != now:
        fail(
            "user B's retry changed user A's thread",
            actual=f"{len(before)} -> {len(now)} items",
            evidence=evidence_of(ev.after_other),
        )
