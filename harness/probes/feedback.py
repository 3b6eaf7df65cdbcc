"""items.feedback: a vote and a changed vote on an own reply, an unknown item, user B."""

from __future__ import annotations

from dataclasses import dataclass

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.probes.features import client_b, done_items, new_thread
from harness.protocol.client import JsonResponse, RecordedStream


@dataclass
class Feedback:
    created: RecordedStream
    item_id: str | None = None
    positive: JsonResponse | None = None
    negative: JsonResponse | None = None  # the same item, vote changed
    unknown: JsonResponse | None = None
    other_user: JsonResponse | None = None  # user B votes on A's item


@probe("feedback")
async def feedback(ctx: ProbeContext) -> Feedback:
    c = ctx.main
    created, tid = await new_thread(c, "Feedback check: say something to rate.")
    replies = done_items(created, "assistant_message")
    if tid is None or not replies:
        return Feedback(created)
    item = str(replies[-1].get("id"))
    positive = await c.feedback(tid, [item], "positive")
    negative = await c.feedback(tid, [item], "negative")
    unknown = await c.feedback(tid, ["msg_harness_unknown_item"], "positive")
    b = client_b(ctx)
    other = await b.feedback(tid, [item], "negative") if b is not None else None
    return Feedback(created, item, positive, negative, unknown, other)
