"""The history panel's paging: threads.list and items.list with limit, after, has_more, order.

Judgments only: evidence from harness/probes/paging.py (8 threads, 8 items, pages of 2).
"""

from __future__ import annotations

from harness.engine.expect import evidence_of
from harness.engine.preconditions import CREATE
from harness.probes.features import page_items
from harness.probes.paging import PAGE, THREADS, TURNS, Paging, Walk
from harness.registry import MUST, check
from harness.report.results import blocked, fail

REF = "openai-chatkit 1.6.5 chatkit/types.py ThreadListParams, ItemsListParams, Page"
FIX = (
    "Order by (created_at, a unique tiebreak) and continue strictly after the cursor row "
    "(< for desc, > for asc); set has_more from one extra row and after to the last id."
)


def _judge(walks: list[Walk], expected: list[str], what: str) -> None:
    by_order = {}
    for w in walks:
        broken = [p for p in w.pages if p.status != 200]
        if broken:
            fail(
                f"{what} ({w.order}) failed while paging",
                actual=f"HTTP {broken[0].status}",
                evidence=evidence_of(broken[0]),
            )
        oversized = [p for p in w.pages if len(page_items(p)) > PAGE]
        if oversized:
            fail(
                f"{what} ({w.order}) ignores limit: a page holds more than was asked for",
                expected=f"at most {PAGE} entries a page (limit={PAGE})",
                actual=f"{len(page_items(oversized[0]))} entries in one page",
                evidence=evidence_of(oversized[0]),
            )
        ids = [i for i in w.ids if i in set(expected)]
        dup = sorted({i for i in w.ids if w.ids.count(i) > 1})
        missing = sorted(set(expected) - set(ids))
        if dup or missing:
            fail(
                f"paging {what} in {w.order} order did not visit every entry exactly once",
                expected=f"each of the {len(expected)} entries once, over pages of {PAGE}",
                actual=f"{len(dup)} repeated, {len(missing)} missing, {len(w.pages)} pages",
                evidence=f"repeated: {dup[:5]}\nmissing: {missing[:5]}\n"
                + evidence_of(w.pages[-1]),
            )
        by_order[w.order] = ids
    if "asc" in by_order and "desc" in by_order and by_order["asc"] != by_order["desc"][::-1]:
        fail(
            f"{what}: the desc walk is not the asc walk reversed",
            evidence=f"asc: {by_order['asc'][:6]}\ndesc: {by_order['desc'][:6]}",
        )


@check(
    id="paging.threads",
    title="threads.list pages walk every thread exactly once, in both orders",
    level=MUST,
    pitfall="A cursor compared with <= repeats the last thread of every page; one that ignores "
    "order or has_more loses the rest of the history panel; a store that ignores limit loads "
    "every thread at once.",
    fix=FIX,
    ref=REF,
    probes=["paging"],
)
def test_threads(evidence) -> None:
    ev: Paging = evidence["paging"]
    if len(ev.thread_ids) < THREADS - 1:
        blocked(
            CREATE, f"only {len(ev.thread_ids)} of {THREADS} threads.create calls opened a thread"
        )
    _judge(ev.thread_walks, ev.thread_ids, "threads.list")


@check(
    id="paging.items",
    title="items.list pages walk every item of a thread exactly once, in both orders",
    level=MUST,
    pitfall="The same cursor mistakes on items: a long conversation shows repeated or missing "
    "messages when the client scrolls back.",
    fix=FIX,
    ref=REF,
    probes=["paging"],
)
def test_items(evidence) -> None:
    ev: Paging = evidence["paging"]
    if ev.item_thread is None or len(ev.item_ids) < 2 * TURNS - 1:
        blocked(
            "protocol.add-user-message",
            f"the paging thread holds {len(ev.item_ids)} streamed items, not {2 * TURNS}",
        )
    _judge(ev.item_walks, ev.item_ids, "items.list")


@check(
    id="paging.bad-cursor",
    title="An 'after' cursor that is not an id of the list is a 4xx, not a 500",
    level=MUST,
    pitfall="The cursor row is looked up and used without a check: a stale or forged cursor "
    "crashes the list (500), or silently restarts at page one so a pager loops forever.",
    fix="Answer an unknown cursor with 400 (raise ValueError before the query).",
    ref=REF,
    probes=["paging"],
)
def test_bad_cursor(evidence) -> None:
    ev: Paging = evidence["paging"]
    for resp, what in ((ev.bad_threads, "threads.list"), (ev.bad_items, "items.list")):
        if resp is None:
            continue
        if not 400 <= resp.status < 500:
            fail(
                f"{what} with an unknown cursor was not refused",
                expected="a 4xx",
                actual=f"HTTP {resp.status or resp.transport_error}",
                evidence=evidence_of(resp),
            )
