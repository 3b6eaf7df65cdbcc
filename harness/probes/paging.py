"""History paging: 8 threads and 8 items walked with limit/after in both orders."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.probes.features import done_items, page_items
from harness.protocol.client import ChatKitClient, JsonResponse, RecordedStream
from harness.target.config import Identity

# Four pages each way, three page boundaries: enough for a cursor off by one (<= for <) or
# one that ignores order or has_more; each thread and turn costs a full agent turn.
# Pages of 2 over 8 entries: three page boundaries each way, and a store that ignores limit
# (answering all 8 at once) is seen. Every entry is a model turn, which a real deployment
# pays for: no more of them than the verdict needs.
THREADS = 8
TURNS = 4  # 8 items: a user message and a reply each
PAGE = 2
MAX_PAGES = 30  # a pager that never ends stops here
ORDERS = ("asc", "desc")


@dataclass
class Walk:
    order: str
    pages: list[JsonResponse] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [str(r.get("id")) for p in self.pages for r in page_items(p)]


@dataclass
class Paging:
    threads: list[RecordedStream]
    thread_walks: list[Walk]
    item_thread: str | None
    turns: list[RecordedStream]
    item_walks: list[Walk]
    bad_threads: JsonResponse | None
    bad_items: JsonResponse | None

    @property
    def thread_ids(self) -> list[str]:
        return [r.thread_id for r in self.threads if r.thread_id]

    @property
    def item_ids(self) -> list[str]:
        return [str(i.get("id")) for r in self.turns for i in done_items(r)]


async def walk(order: str, read: Reader) -> Walk:
    """Follow ``after`` until has_more is false (or the page is broken)."""
    w = Walk(order)
    after: str | None = None
    for _ in range(MAX_PAGES):
        page = await read(after)
        w.pages.append(page)
        data = page.json if isinstance(page.json, dict) else {}
        rows = page_items(page)
        if page.status != 200 or not data.get("has_more") or not rows:
            break
        nxt = data.get("after") or rows[-1].get("id")
        after = str(nxt)
    return w


Reader = Callable[[str | None], Awaitable[JsonResponse]]


def _threads(c: ChatKitClient, order: str) -> Reader:
    async def read(after: str | None) -> JsonResponse:
        return await c.list_threads(limit=PAGE, order=order, after=after)

    return read


def _items(c: ChatKitClient, tid: str, order: str) -> Reader:
    async def read(after: str | None) -> JsonResponse:
        return await c.list_items(tid, limit=PAGE, order=order, after=after)

    return read


def _pager(ctx: ProbeContext) -> ChatKitClient:
    """A user of its own where the harness can mint one: other probes' threads stay out."""
    if ctx.issuer is not None:
        token = ctx.issuer.mint(f"harness-pager-{uuid.uuid4().hex[:8]}")
        return ctx.client(Identity(name="pager", headers={"Authorization": f"Bearer {token}"}))
    return ctx.main


@probe("paging", long=True)
async def paging(ctx: ProbeContext) -> Paging:
    """The item thread's turns and the other threads are made side by side (the turns are
    the long chain), then both lists are walked."""
    c = _pager(ctx)

    async def item_chain() -> list[RecordedStream]:
        turns = [await c.create_thread("paging thread 0")]
        tid = turns[0].thread_id
        if tid is None or turns[0].status != 200:
            return turns
        for n in range(TURNS - 1):
            turns.append(await c.add_user_message(tid, f"paging turn {n}"))
        return turns

    async def others() -> list[RecordedStream]:
        made: list[RecordedStream] = []
        for start in range(1, THREADS, 5):
            batch = range(start, min(start + 5, THREADS))
            made += await asyncio.gather(*(c.create_thread(f"paging thread {n}") for n in batch))
        return made

    turns, rest = await asyncio.gather(item_chain(), others())
    threads = [turns[0], *rest]
    tid = turns[0].thread_id if turns[0].status == 200 else None
    # The four walks and the two bad cursors only read: side by side, each walk still page
    # after page.
    thread_walks = asyncio.gather(*(walk(o, _threads(c, o)) for o in ORDERS))
    bad_threads_read = asyncio.ensure_future(
        c.list_threads(limit=PAGE, after="thr_harness_not_a_cursor")
    )
    item_walks: list[Walk] = []
    bad_items = None
    if tid is not None:
        item_reads = asyncio.gather(*(walk(o, _items(c, tid, o)) for o in ORDERS))
        bad_items = await c.list_items(tid, limit=PAGE, after="msg_harness_not_a_cursor")
        item_walks = list(await item_reads)
    else:
        turns = []
    walks = list(await thread_walks)
    bad_threads = await bad_threads_read
    if c is ctx.main:  # leave user A's list as it was
        await asyncio.gather(*(c.delete_thread(t) for t in {r.thread_id for r in threads} if t))
    return Paging(threads, walks, tid, turns, item_walks, bad_threads, bad_items)
