"""threads.retry_after_item: the newer items go, one new reply streams; bad items refused."""

from __future__ import annotations

from dataclasses import dataclass

from harness.engine.context import ProbeContext, settle
from harness.engine.probes import probe
from harness.probes.features import client_b, done_items, items_of, new_thread, page_items
from harness.protocol.client import JsonResponse, RecordedStream


@dataclass
class Retry:
    created: RecordedStream
    second: RecordedStream | None = None
    first_user: str | None = None
    retried: RecordedStream | None = None
    after: JsonResponse | None = None
    unknown: RecordedStream | None = None
    not_user: RecordedStream | None = None
    not_user_id: str | None = None
    other_user: RecordedStream | None = None  # user B retries on A's thread
    after_other: JsonResponse | None = None


@probe("retry", long=True)
async def retry(ctx: ProbeContext) -> Retry:
    c = ctx.main
    created, tid = await new_thread(c, "Retry check: the first question.")
    users = done_items(created, "user_message")
    if tid is None or not users:
        return Retry(created)
    second = await c.add_user_message(tid, "Retry check: the second question.")
    first_user = str(users[0].get("id"))
    newer = {str(i.get("id")) for i in done_items(second)}
    retried = await c.retry_after_item(tid, first_user)
    _, after, _ = await settle(
        lambda: items_of(c, tid),
        lambda r: not newer & {str(i.get("id")) for i in page_items(r)},
        ctx.settle,
    )
    unknown = await c.retry_after_item(tid, "msg_harness_unknown_item")
    replies = [i for i in page_items(after) if i.get("type") == "assistant_message"]
    not_user_id = str(replies[-1].get("id")) if replies else None
    not_user = await c.retry_after_item(tid, not_user_id) if not_user_id else None
    b = client_b(ctx)
    other = await b.retry_after_item(tid, first_user) if b is not None else None
    after_other = await items_of(c, tid) if b is not None else None
    return Retry(
        created,
        second,
        first_user,
        retried,
        after,
        unknown,
        not_user,
        not_user_id,
        other,
        after_other,
    )
