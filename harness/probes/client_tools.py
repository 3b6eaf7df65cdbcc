"""Client tools: a pending client_tool_call, its output, output with nothing pending, user B."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.probes.features import (
    client_b,
    done_items,
    items_of,
    new_thread,
    trigger,
    triggered_thread,
    untriggered_hint,
)
from harness.protocol.client import JsonResponse, RecordedStream

RESULT = {"harness": "the client tool's result"}


@dataclass
class ClientTools:
    prompt: str | None
    hint: str = ""  # with no prompt: what else could reach the feature (offers.needs_trigger)
    created: RecordedStream | None = None
    call_id: str | None = None  # the item id of the pending client_tool_call
    output: RecordedStream | None = None
    after: JsonResponse | None = None
    plain: RecordedStream | None = None  # a thread with no tool call
    no_pending: RecordedStream | None = None
    other_created: RecordedStream | None = None  # a second pending call, for user B
    other_user: RecordedStream | None = None
    other_after: JsonResponse | None = None
    other_call_id: str | None = None


def pending_call(rec: RecordedStream | None) -> str | None:
    for item in done_items(rec, "client_tool_call"):
        if item.get("status") == "pending" and isinstance(item.get("id"), str):
            return str(item["id"])
    return None


@probe("client-tools", long=True)
async def client_tools(ctx: ProbeContext) -> ClientTools:
    c = ctx.main
    ev = ClientTools(await trigger(ctx, "client-tools"))

    async def nothing_pending() -> None:
        ev.plain, plain_tid = await new_thread(c, "A thread where no client tool is pending.")
        if plain_tid is not None:
            ev.no_pending = await c.add_client_tool_output(plain_tid, RESULT)

    async def pending() -> None:
        if ev.prompt is None:
            ev.hint = await untriggered_hint(ctx)
            return
        ev.created, tid = await triggered_thread(ctx, "client-tools", ev.prompt)
        ev.call_id = pending_call(ev.created)
        if tid is None or ev.call_id is None:
            return
        ev.output = await c.add_client_tool_output(tid, RESULT)
        ev.after = await items_of(c, tid)
        b = client_b(ctx)
        if b is not None:
            ev.other_created, otid = await new_thread(c, ev.prompt)
            ev.other_call_id = pending_call(ev.other_created)
            if otid is not None and ev.other_call_id is not None:
                ev.other_user = await b.add_client_tool_output(otid, {"from": "user B"})
                ev.other_after = await items_of(c, otid)

    # Two threads of their own: side by side.
    await asyncio.gather(nothing_pending(), pending())
    return ev
