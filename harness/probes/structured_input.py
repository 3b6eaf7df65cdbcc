"""Structured input: answering and skipping a pending question, resubmitting, user B."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.probes.features import (
    client_b,
    done_items,
    items_of,
    new_thread,
    trigger,
    untriggered_hint,
)
from harness.protocol.client import ChatKitClient, JsonResponse, RecordedStream


@dataclass
class Question:
    created: RecordedStream
    thread_id: str | None
    item: dict[str, Any] | None

    @property
    def item_id(self) -> str | None:
        return str(self.item["id"]) if self.item and isinstance(self.item.get("id"), str) else None


@dataclass
class StructuredInput:
    prompt: str | None
    hint: str = ""  # with no prompt: what else could reach the feature (offers.needs_trigger)
    answered_q: Question | None = None
    answered: RecordedStream | None = None
    answered_after: JsonResponse | None = None
    again: RecordedStream | None = None  # the same submission once more
    not_structured: RecordedStream | None = None  # a submission to a reply item
    skipped_q: Question | None = None
    skipped: RecordedStream | None = None
    skipped_after: JsonResponse | None = None
    other_q: Question | None = None
    other_user: RecordedStream | None = None
    other_after: JsonResponse | None = None


def answers(item: dict[str, Any]) -> dict[str, Any]:
    """An answer to every question: the first option, or a short text."""
    out: dict[str, Any] = {}
    for q in item.get("inputs") or []:
        if not isinstance(q, dict) or not isinstance(q.get("id"), str):
            continue
        options = [o.get("value") for o in q.get("options") or [] if isinstance(o, dict)]
        out[q["id"]] = {"values": [str(options[0]) if options else "harness answer"]}
    return {"status": "answered", "answers": out}


async def ask(c: ChatKitClient, prompt: str) -> Question:
    created, tid = await new_thread(c, prompt)
    pending = [i for i in done_items(created, "structured_input") if i.get("status") == "pending"]
    return Question(created, tid, pending[0] if pending else None)


@probe("structured-input", long=True)
async def structured_input(ctx: ProbeContext) -> StructuredInput:
    c = ctx.main
    ev = StructuredInput(await trigger(ctx, "structured-input"))
    if ev.prompt is None:
        ev.hint = await untriggered_hint(ctx)
        return ev
    q = ev.answered_q = await ask(c, ev.prompt)
    if q.thread_id is None or q.item is None or q.item_id is None:
        return ev
    submission = answers(q.item)
    ev.answered = await c.add_structured_input(q.thread_id, q.item_id, submission)
    ev.answered_after = await items_of(c, q.thread_id)
    ev.again = await c.add_structured_input(q.thread_id, q.item_id, submission)
    replies = done_items(q.created, "user_message")
    if replies:
        ev.not_structured = await c.add_structured_input(
            q.thread_id, str(replies[0].get("id")), submission
        )
    s = ev.skipped_q = await ask(c, ev.prompt)
    if s.thread_id is not None and s.item_id is not None:
        ev.skipped = await c.add_structured_input(s.thread_id, s.item_id, {"status": "skipped"})
        ev.skipped_after = await items_of(c, s.thread_id)
    b = client_b(ctx)
    if b is not None:
        o = ev.other_q = await ask(c, ev.prompt)
        if o.thread_id is not None and o.item is not None and o.item_id is not None:
            ev.other_user = await b.add_structured_input(o.thread_id, o.item_id, answers(o.item))
            ev.other_after = await items_of(c, o.thread_id)
    return ev
