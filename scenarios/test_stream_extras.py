"""Tier-2 stream events (progress_update, client_effect, notice) and thread status.

Judgments only: evidence from harness/probes/extras.py.
"""

from __future__ import annotations

from typing import Any

from harness.engine.expect import evidence_of, stream_ok
from harness.engine.offers import needs_trigger, refused_cleanly
from harness.probes.extras import Closed, Extras, Triggered
from harness.probes.features import done_items, item_text, page_items
from harness.protocol.client import RecordedStream
from harness.protocol.events import event_problem
from harness.registry import MUST, check
from harness.report.results import fail

REF = "openai-chatkit 1.6.5 chatkit/types.py ProgressUpdateEvent, ClientEffectEvent, NoticeEvent"
EVENT_OF = {"progress": "progress_update", "client-effect": "client_effect", "notice": "notice"}


def _events(run: Triggered) -> list[dict[str, Any]]:
    rec = run.created
    return rec.of_type(EVENT_OF[run.feature]) if rec is not None else []


def _schema(ev: Extras, feature: str) -> None:
    run = ev.runs[feature]
    events = _events(run)
    needs_trigger(run.prompt, feature, bool(events), f"{EVENT_OF[feature]} event", run.hint)
    assert run.created is not None
    for p in events:
        problem = event_problem(p)
        if problem:
            fail(
                f"a {EVENT_OF[feature]} event is not valid",
                actual=problem,
                evidence=evidence_of(run.created),
            )


def _declare(feature: str, title: str, pitfall: str) -> None:
    def judge(evidence) -> None:
        _schema(evidence["stream-extras"], feature)

    judge.__name__ = judge.__qualname__ = f"test_{feature.replace('-', '_')}_schema"
    globals()[judge.__name__] = check(
        id=f"events.{feature}-schema",
        title=title,
        level=MUST,
        pitfall=pitfall,
        fix="Yield chatkit.types events (ProgressUpdateEvent(text=...), ClientEffectEvent(name="
        "...), NoticeEvent(level='info'|'warning'|'danger', message=...)).",
        ref=REF,
        probes=["stream-extras"],
    )(judge)


_declare(
    "progress",
    "progress_update events validate (text, optional icon)",
    "A hand-rolled progress event uses 'message' instead of 'text': the client drops it and "
    "the user sees no progress.",
)
_declare(
    "client-effect",
    "client_effect events validate (a name, a data object)",
    "A client effect without a name reaches onEffect as nothing: the app's effect never runs.",
)
_declare(
    "notice",
    "notice events validate (level info, warning or danger; a message)",
    "A notice with level 'error' is not a ChatKit level: the banner is not shown.",
)


@check(
    id="events.not-stored",
    title="progress_update, client_effect and notice are streamed, never stored as items",
    level=MUST,
    pitfall="The notice is also written into the thread as a message: it reappears as an "
    "assistant reply on reload and goes to the model as history.",
    fix="Only yield the events; store nothing for them.",
    ref=REF,
    probes=["stream-extras"],
)
def test_not_stored(evidence) -> None:
    ev: Extras = evidence["stream-extras"]
    runs = [r for r in ev.runs.values() if _events(r)]
    needs_trigger(
        next((r.prompt for r in ev.runs.values() if r.prompt), None),
        "notice",
        bool(runs),
        "progress_update, client_effect or notice event",
        next((r.hint for r in ev.runs.values() if r.hint), ""),
    )
    for run in runs:
        rec: RecordedStream | None = (
            stream_ok(run.created, f"the {run.feature} trigger") if run.created else None
        )
        streamed = {str(i.get("id")) for i in done_items(rec)}
        texts = {str(p.get("text") or p.get("message")) for p in _events(run)}
        extra = [
            i
            for i in page_items(run.items)
            if str(i.get("id")) not in streamed or item_text(i) in texts
        ]
        if extra:
            fail(
                f"the {run.feature} turn stored items it never streamed",
                actual=f"{[i.get('type') for i in extra]}",
                evidence=evidence_of(run.items) if run.items else "",
            )


@check(
    id="thread-status.closed",
    title="A closed or locked thread refuses new messages and keeps its items",
    level=MUST,
    pitfall="Thread status is shown by the client but never enforced: a closed conversation "
    "takes new messages through the API.",
    fix="Check thread.status before adding to a thread (409, or an error event).",
    ref="openai-chatkit 1.6.5 chatkit/types.py ThreadStatus (LockedStatus, ClosedStatus)",
    probes=["closed-thread"],
)
def test_closed(evidence) -> None:
    ev: Closed = evidence["closed-thread"]
    needs_trigger(
        ev.prompt,
        "closed-thread",
        ev.refused is not None,
        "closed or locked thread status",
        ev.hint,
    )
    refused_cleanly(ev.refused, "a message to a closed thread")
    before = [i.get("id") for i in page_items(ev.items_before)]
    after = [i.get("id") for i in page_items(ev.items_after)]
    if before != after:
        fail(
            "the closed thread's items changed",
            actual=f"{len(before)} -> {len(after)} items",
            evidence=evidence_of(ev.items_after) if ev.items_after else "",
        )
