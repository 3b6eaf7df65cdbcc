"""The main conversation and the JSON requests around it: the protocol area's evidence.

``first-turn`` is also the preflight's threads.create: the credential is known to work before
any check is judged. Reads that verify an earlier write settle first (``--settle``): a store
that writes in the background is judged on what it holds, and the lag is kept as evidence of
its own (``protocol.read-your-writes``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.engine.context import ProbeContext, settle
from harness.engine.probes import probe
from harness.protocol.client import JsonResponse, RecordedStream

FIRST_MESSAGE = "Hello from chatkit-harness. Please answer briefly."
SECOND_MESSAGE = "Thanks. One more short answer, please."
RENAMED = "harness title check"


def done_ids(*streams: RecordedStream | None) -> list[str]:
    """Ids of the items the streams finished, in order.

    Once per stream: an item finished twice in one stream is one item (its lifecycle is
    protocol.item-lifecycle's concern); one id in two streams is two items that share it.
    """
    out: list[str] = []
    for rec in streams:
        if rec is None:
            continue
        ids: dict[str, None] = {}
        for p in rec.of_type("thread.item.done"):
            item = p.get("item")
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                ids.setdefault(item["id"], None)
        out += ids
    return out


def page_ids(resp: JsonResponse | None) -> list[str]:
    data = resp.json if resp is not None else None
    rows = data.get("data") if isinstance(data, dict) else None
    return [str(r.get("id")) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def holds(resp: JsonResponse, ids: list[str]) -> bool:
    """A page that holds every id in ``ids`` (a settled read of what the streams finished)."""
    return resp.status == 200 and set(ids) <= set(page_ids(resp))


async def settled_view(
    items_of: Callable[[], Awaitable[JsonResponse]],
    listed_of: Callable[[], Awaitable[JsonResponse]],
    thread_id: str,
    want: list[str],
    within: float,
) -> tuple[JsonResponse, JsonResponse]:
    """A thread as its owner sees it once the store caught up, the "before" of every
    comparison: items.list holding ``want`` (what its streams finished) and threads.list
    holding the thread, read side by side."""
    (_, items, _), (_, listed, _) = await asyncio.gather(
        settle(items_of, lambda r: holds(r, want), within),
        settle(listed_of, lambda r: thread_id in page_ids(r), within),
    )
    return items, listed


@dataclass
class Conversation:
    """Two turns on one thread, and what the store says afterwards."""

    first: RecordedStream
    second: RecordedStream | None
    items: JsonResponse | None  # settled: holds what the streams finished, or --settle ran out
    items_first: JsonResponse | None  # the read right after the stream ended
    lag: float | None  # seconds until the store showed the streamed items; None: never

    @property
    def thread_id(self) -> str | None:
        return self.first.thread_id


def usable(rec: RecordedStream | None) -> bool:
    return rec is not None and rec.status == 200 and not rec.transport_error and bool(rec.thread_id)


@probe("first-turn", early=True)
async def first_turn(ctx: ProbeContext) -> RecordedStream:
    """threads.create as user A: the preflight's create, and turn 1 of the conversation."""
    return await ctx.main.create_thread(FIRST_MESSAGE)


@probe("conversation", long=True)
async def conversation(ctx: ProbeContext) -> Conversation:
    """A second turn on the first thread, then items.list, settled."""
    first: RecordedStream = await ctx.probe("first-turn")
    tid = first.thread_id
    if not usable(first) or tid is None:
        return Conversation(first, None, None, None, None)
    # Read-your-writes is sampled after each turn: one read can come late enough (a busy
    # machine) to find a lagging store already settled.
    early, _, lag1 = await settle(
        lambda: ctx.main.list_items(tid), lambda r: holds(r, done_ids(first)), ctx.settle
    )
    second = await ctx.main.add_user_message(tid, SECOND_MESSAGE)
    want = done_ids(first, second)
    items_first, items, lag2 = await settle(
        lambda: ctx.main.list_items(tid), lambda r: holds(r, want), ctx.settle
    )
    if lag2 is not None and lag1 is not None and lag1 > lag2:
        items_first, lag2 = early, lag1
    return Conversation(first, second, items, items_first, lag2)


@dataclass
class ThreadReads:
    """threads.get_by_id and threads.list after the conversation, and a small JSON read."""

    thread_id: str | None
    get: JsonResponse | None
    listed: JsonResponse | None
    small_list: JsonResponse  # threads.list limit=1 (content type)


@probe("thread-reads")
async def thread_reads(ctx: ProbeContext) -> ThreadReads:
    conv: Conversation = await ctx.probe("conversation")
    small = await ctx.main.list_threads(limit=1)
    tid = conv.thread_id
    if conv.second is None or tid is None:
        return ThreadReads(tid, None, None, small)
    want = done_ids(conv.first, conv.second)

    def thread_holds(r: JsonResponse) -> bool:
        items = (r.json or {}).get("items") if isinstance(r.json, dict) else None
        rows = items.get("data") if isinstance(items, dict) else None
        got = [i.get("id") for i in rows if isinstance(i, dict)] if isinstance(rows, list) else []
        return r.status == 200 and set(want) <= set(got)

    _, got, _ = await settle(lambda: ctx.main.get_thread(tid), thread_holds, ctx.settle)
    _, listed, _ = await settle(
        lambda: ctx.main.list_threads(), lambda r: holds(r, [tid]), ctx.settle
    )
    return ThreadReads(tid, got, listed, small)


@dataclass
class Rename:
    """threads.update on its own thread, read back through get_by_id and threads.list."""

    created: RecordedStream
    update: JsonResponse | None
    get: JsonResponse | None  # threads.get_by_id after the rename, settled
    listed: JsonResponse | None  # threads.list after the rename, settled
    title: str = RENAMED

    def title_in_list(self) -> str | None:
        data = self.listed.json if self.listed is not None else None
        rows = data.get("data") if isinstance(data, dict) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and row.get("id") == self.created.thread_id:
                return str(row.get("title"))
        return None


def _title_is(resp: JsonResponse, title: str) -> bool:
    return resp.status == 200 and isinstance(resp.json, dict) and resp.json.get("title") == title


@probe("rename", long=True)
async def rename(ctx: ProbeContext) -> Rename:
    created = await ctx.main.create_thread("a thread to rename")
    tid = created.thread_id
    if not usable(created) or tid is None:
        return Rename(created, None, None, None)
    update = await ctx.main.update_thread(tid, RENAMED)
    _, got, _ = await settle(
        lambda: ctx.main.get_thread(tid), lambda r: _title_is(r, RENAMED), ctx.settle
    )

    def listed_ok(r: JsonResponse) -> bool:
        rows = (r.json or {}).get("data") if isinstance(r.json, dict) else None
        return any(
            isinstance(t, dict) and t.get("id") == tid and t.get("title") == RENAMED
            for t in (rows if isinstance(rows, list) else [])
        )

    _, listed, _ = await settle(lambda: ctx.main.list_threads(), listed_ok, ctx.settle)
    await ctx.main.delete_thread(tid)
    return Rename(created, update, got, listed)


@dataclass
class Deletion:
    created: RecordedStream
    delete: JsonResponse | None
    get_after: JsonResponse | None
    listed_after: JsonResponse | None


@probe("delete")
async def delete(ctx: ProbeContext) -> Deletion:
    created = await ctx.main.create_thread("a thread to delete")
    tid = created.thread_id
    if not usable(created) or tid is None:
        return Deletion(created, None, None, None)
    deleted = await ctx.main.delete_thread(tid)
    _, get_after, _ = await settle(
        lambda: ctx.main.get_thread(tid), lambda r: 400 <= r.status < 500, ctx.settle
    )
    _, listed, _ = await settle(
        lambda: ctx.main.list_threads(), lambda r: tid not in page_ids(r), ctx.settle
    )
    return Deletion(created, deleted, get_after, listed)
