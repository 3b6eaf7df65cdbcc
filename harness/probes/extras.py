"""Tier-2 stream events (progress_update, client_effect, notice) and a closed thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.probes.features import items_of, trigger, triggered_thread, untriggered_hint
from harness.protocol.client import JsonResponse, RecordedStream

EXTRAS = ("progress", "client-effect", "notice")


@dataclass
class Triggered:
    feature: str
    prompt: str | None
    hint: str = ""  # with no prompt: what else could reach the feature (offers.needs_trigger)
    created: RecordedStream | None = None
    items: JsonResponse | None = None


@dataclass
class Extras:
    runs: dict[str, Triggered] = field(default_factory=dict)


async def _run(ctx: ProbeContext, feature: str) -> Triggered:
    t = Triggered(feature, await trigger(ctx, feature))
    if t.prompt is None:
        t.hint = await untriggered_hint(ctx)
    else:
        t.created, tid = await triggered_thread(ctx, feature, t.prompt)
        if tid is not None:
            t.items = await items_of(ctx.main, tid)
    return t


@probe("stream-extras")
async def stream_extras(ctx: ProbeContext) -> Extras:
    runs = await asyncio.gather(*(_run(ctx, f) for f in EXTRAS))
    return Extras({r.feature: r for r in runs})


@dataclass
class Closed:
    prompt: str | None
    hint: str = ""  # with no prompt: what else could reach the feature (offers.needs_trigger)
    created: RecordedStream | None = None
    thread: JsonResponse | None = None  # threads.get_by_id after the closing turn
    items_before: JsonResponse | None = None
    refused: RecordedStream | None = None  # a message to the closed thread
    items_after: JsonResponse | None = None


@probe("closed-thread", long=True)
async def closed_thread(ctx: ProbeContext) -> Closed:
    c = ctx.main
    ev = Closed(await trigger(ctx, "closed-thread"))
    if ev.prompt is None:
        ev.hint = await untriggered_hint(ctx)
        return ev
    ev.created, tid = await triggered_thread(ctx, "closed-thread", ev.prompt)
    if tid is None:
        return ev
    ev.thread = await c.get_thread(tid)
    ev.items_before = await items_of(c, tid)
    status = (ev.thread.json or {}).get("status") if isinstance(ev.thread.json, dict) else None
    if isinstance(status, dict) and status.get("type") in ("closed", "locked"):
        ev.refused = await c.add_user_message(tid, "Is this thread still open?")
        ev.items_after = await items_of(c, tid)
    return ev
