"""The stop button: a reply closed mid-stream, what the store keeps, and the next turn."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.engine.context import ProbeContext, settle
from harness.engine.probes import probe
from harness.glass.model_stub import RecordedModelRequest
from harness.probes.features import items_of, new_thread, page_items
from harness.protocol.client import JsonResponse, RecordedStream

# A long message, so the reply (which repeats it on the offline model and the stub) streams
# for a second or more and the stop lands in the middle of it.
CANCEL_PROMPT = "Please write a long answer about these words: " + " ".join(
    f"word{n}" for n in range(150)
)
STOP_AFTER_DELTAS = 3
# The harness's own messages name neither a cancellation nor a stop, so that a model input
# that does mention one (cancel.model-told) can only have it from the deployment.
FIRST_PROMPT = "A thread whose next reply the harness will cut short."
NEXT_PROMPT = "Are you still there? Answer briefly."
SENT = (FIRST_PROMPT, CANCEL_PROMPT, NEXT_PROMPT)


def _partial_stored(resp: JsonResponse) -> bool:
    rows = page_items(resp)
    users = [n for n, r in enumerate(rows) if r.get("type") == "user_message"]
    return bool(users) and any(r.get("type") == "assistant_message" for r in rows[users[-1] :])


@dataclass
class Cancel:
    created: RecordedStream
    stopped: RecordedStream | None = None  # the stream the harness closed mid-way
    items: JsonResponse | None = None  # items.list after the stop (settled)
    next_turn: RecordedStream | None = None
    after: JsonResponse | None = None  # items.list after the next turn
    calls: list[RecordedModelRequest] | None = None  # glass-box: model requests since the stop


@probe("cancel", long=True)
async def cancel(ctx: ProbeContext) -> Cancel:
    """Stop a reply after a few deltas; read the items; talk again on the same thread."""
    c = ctx.main
    created, tid = await new_thread(c, FIRST_PROMPT)
    if tid is None:
        return Cancel(created)
    stopped = await c.add_user_message(tid, CANCEL_PROMPT, stop_after_deltas=STOP_AFTER_DELTAS)
    mark = ctx.glass.mark() if ctx.glass is not None else None
    _, items, _ = await settle(lambda: items_of(c, tid), _partial_stored, ctx.settle)
    next_turn = await c.add_user_message(tid, NEXT_PROMPT)
    after = await items_of(c, tid)
    calls = None
    if ctx.glass is not None and mark is not None:
        calls = await asyncio.to_thread(ctx.glass.calls, mark)
    return Cancel(created, stopped, items, next_turn, after, calls)
