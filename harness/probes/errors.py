"""Bad input: malformed, unknown and incomplete requests, and what they leave behind.

Each bad request goes out beside a well-formed one of the same shape, so the checks can tell
"the server refuses this body" from "the server refuses everything" (a broken exchange, or a
credential that stopped working). The keep-alive probe owns a raw socket: httpx would open a
new connection behind our back and hide the very drop it looks for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.engine.context import ProbeContext, settle
from harness.engine.probes import probe
from harness.probes.conversation import done_ids, settled_view
from harness.protocol.client import ChatKitClient, JsonResponse, RecordedStream
from harness.protocol.rawhttp import ConnectionClosed, OneConnection
from harness.target.config import Identity

MISSING_THREAD = "thr_does_not_exist_harness"
# The threads.list every bad request is compared with: valid JSON, a known type, its params.
CONTROL = json.dumps({"type": "threads.list", "params": {"limit": 1}}).encode()
OVERSIZED = 2 * 1024 * 1024


@dataclass
class BadRequests:
    """Bad bodies sent as user A, and the well-formed request they are measured against."""

    control: JsonResponse  # threads.list limit=1, sent first
    malformed: JsonResponse
    unknown_type: JsonResponse
    missing: list[tuple[str, JsonResponse]]  # what was left out, the answer
    oversized: JsonResponse


async def _req(client: ChatKitClient, body: bytes, what: str) -> JsonResponse:
    return await client.request_raw(body, request_type=what)


@probe("bad-requests")
async def bad_requests(ctx: ProbeContext) -> BadRequests:
    """Malformed JSON, an unknown type, missing params and a 2 MiB body, beside threads.list."""
    c = ctx.client()  # its own connections: a server that drops them affects only this probe
    control = await _req(c, CONTROL, "threads.list")
    malformed = await _req(c, b'{"type": "threads.list", "params": {', "malformed JSON")
    unknown = await _req(
        c, json.dumps({"type": "threads.frobnicate", "params": {}}).encode(), "unknown type"
    )
    missing = []
    for what, body in (
        ("empty object", {}),
        ("no params", {"type": "threads.create"}),
        ("incomplete input", {"type": "threads.create", "params": {"input": {"content": []}}}),
    ):
        missing.append((what, await _req(c, json.dumps(body).encode(), what)))
    pad = "x" * OVERSIZED
    big = json.dumps({"type": "threads.list", "params": {}, "padding": pad}).encode()
    oversized = await _req(c, big, "threads.list (2 MiB)")
    return BadRequests(control, malformed, unknown, missing, oversized)


@probe("unknown-thread")
async def unknown_thread(ctx: ProbeContext) -> RecordedStream:
    """threads.add_user_message for a thread that does not exist."""
    return await ctx.client().add_user_message(MISSING_THREAD, "hello?")


# -- the same keep-alive connection ----------------------------------------------------------

KEEPALIVE_BAD = [
    ("malformed JSON", b'{"type": '),
    ("unknown type", b'{"type": "threads.frobnicate", "params": {}}'),
    ("empty object", b"{}"),
]


@dataclass
class KeepAliveStep:
    what: str
    bad_status: int | None = None
    good_status: int | None = None
    dropped: str | None = None  # how the connection ended, when it did


@dataclass
class KeepAlive:
    """Bad and good requests alternating on one raw HTTP/1.1 connection."""

    opened: str | None = None  # why the connection could not be opened at all
    first_status: int | None = None  # the good request before any bad one
    first_error: str | None = None
    steps: list[KeepAliveStep] = field(default_factory=list)


def _observe(ctx: ProbeContext, ex: JsonResponse) -> None:
    for callback in ctx.observers:
        callback(ex)


@probe("keepalive")
async def keepalive(ctx: ProbeContext) -> KeepAlive:
    """A good request, then each bad body followed by a good one, all on the same socket."""
    headers = ctx.main.headers_for(ctx.main.identity)
    out = KeepAlive()
    errors = (ConnectionClosed, TimeoutError, OSError)
    try:
        async with OneConnection(ctx.main.url, ctx.target.timeout) as conn:

            async def post(body: bytes, what: str) -> int:
                # Recorded like every other request, so --artifacts holds all the target got.
                ex = JsonResponse(f"{what} (raw connection)", body, dict(headers), ctx.main.url)
                try:
                    resp = await conn.post(body, headers)
                except errors as exc:
                    ex.transport_error = str(exc) or type(exc).__name__
                    _observe(ctx, ex)
                    raise
                ex.status, ex.headers, ex.body = resp.status, list(resp.headers.items()), resp.body
                _observe(ctx, ex)
                return resp.status

            try:
                out.first_status = await post(CONTROL, "threads.list")
            except errors as exc:
                out.first_error = str(exc) or type(exc).__name__
                return out
            for what, body in KEEPALIVE_BAD:
                step = KeepAliveStep(what)
                out.steps.append(step)
                try:
                    step.bad_status = await post(body, what)
                    step.good_status = await post(CONTROL, "threads.list")
                except errors as exc:
                    step.dropped = str(exc) or type(exc).__name__
                    return out
    except errors as exc:
        out.opened = str(exc) or type(exc).__name__
    return out


# -- bad requests next to a thread the user keeps ------------------------------------------


@dataclass
class NothingLost:
    """A thread, bad requests naming other (or missing) things, and the thread afterwards.

    Snapshots come from items.list and threads.list, each settled (a store that writes in the
    background is compared once it holds what the stream finished), never from
    threads.get_by_id: a broken get_by_id must not look like a lost thread.
    """

    created: RecordedStream
    own_user: bool  # the probe ran as a user of its own (the test issuer), not as user A
    items_before: JsonResponse | None = None  # settled: holds every item the stream finished
    listed_before: JsonResponse | None = None  # settled: lists the thread
    bad: list[JsonResponse] = field(default_factory=list)
    items_after: JsonResponse | None = None  # settled towards items_before
    listed_after: JsonResponse | None = None  # settled towards the title before

    @property
    def thread_id(self) -> str | None:
        return self.created.thread_id

    def rows_before(self) -> list[Any] | None:
        return rows_of(self.items_before)

    def rows_after(self) -> list[Any] | None:
        return rows_of(self.items_after)

    def title(self, listed: JsonResponse | None) -> tuple[bool, Any]:
        """(listed?, title) of the thread in a threads.list page."""
        return _title(listed, self.thread_id)


def rows_of(resp: JsonResponse | None) -> list[Any] | None:
    """The items of a 200 page, None for anything else."""
    data = resp.json if resp is not None and resp.status == 200 else None
    rows = data.get("data") if isinstance(data, dict) else None
    return rows if isinstance(rows, list) else None


def _title(resp: JsonResponse | None, tid: str | None) -> tuple[bool, Any]:
    data = resp.json if resp is not None and resp.status == 200 else None
    rows = data.get("data") if isinstance(data, dict) else None
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("id") == tid:
            return True, row.get("title")
    return False, None


def own_identity(ctx: ProbeContext) -> Identity | None:
    """A user only this probe uses, when the deployment trusts the test issuer.

    A backend that falls back to "the user's newest thread" on an unknown id deletes whatever
    thread another probe created a moment ago; with a user of its own the probe's thread is
    the only candidate, so the verdict does not depend on what else is in flight.
    """
    if ctx.issuer is None:
        return None
    token = ctx.issuer.mint("harness-errors", name="Errors Check")
    return Identity("errors user", {"Authorization": f"Bearer {token}"}, token=token)


@probe("nothing-lost")
async def nothing_lost(ctx: ProbeContext) -> NothingLost:
    """A thread of its own, bad requests around it, and items.list / threads.list after."""
    own = own_identity(ctx)
    client = ctx.client(own) if own is not None else ctx.client()
    created = await client.create_thread("keep this thread")
    if own is not None and created.status in (401, 403):
        # The deployment trusts the issuer but not this user: fall back to user A.
        own, client = None, ctx.client()
        created = await client.create_thread("keep this thread")
    out = NothingLost(created, own is not None)
    tid = created.thread_id
    if created.status != 200 or created.transport_error or tid is None:
        return out
    want = done_ids(created)
    out.items_before, out.listed_before = await settled_view(
        lambda: client.list_items(tid), lambda: client.list_threads(), tid, want, ctx.settle
    )
    for body in (
        {"type": "threads.delete", "params": {"thread_id": "thr_missing_harness"}},
        {"type": "threads.update", "params": {"thread_id": "thr_missing_harness", "title": "x"}},
        {"type": "threads.delete", "params": {}},
        {"type": "threads.retry_after_item", "params": {"thread_id": tid, "item_id": "nope"}},
        {"type": "threads.add_user_message", "params": {"thread_id": tid}},
    ):
        resp = await client.request_raw(json.dumps(body).encode(), request_type=str(body["type"]))
        out.bad.append(resp)
    rows = out.rows_before()
    _, items, _ = await settle(
        lambda: client.list_items(tid), lambda r: rows_of(r) == rows, ctx.settle
    )
    before = out.title(out.listed_before)
    _, listed, _ = await settle(
        lambda: client.list_threads(), lambda r: _title(r, tid) == before, ctx.settle
    )
    out.items_after, out.listed_after = items, listed
    return out
