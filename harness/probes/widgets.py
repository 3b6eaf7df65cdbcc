"""Widgets and their actions: a triggered widget, its own server action (streamed and sync),
actions on the wrong item, and user B acting on A's widget."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.probes.features import (
    client_b,
    done_items,
    items_of,
    new_thread,
    page_items,
    trigger,
    triggered_thread,
    untriggered_hint,
)
from harness.protocol.client import JsonResponse, RecordedStream

UNKNOWN_ACTION = {"type": "harness.no-such-action", "payload": {}}


@dataclass
class Widgets:
    prompt: str | None
    hint: str = ""  # with no prompt: what else could reach the feature (offers.needs_trigger)
    plain: RecordedStream | None = None  # a thread without widgets: its reply is no widget
    created: RecordedStream | None = None
    widget: dict[str, Any] | None = None
    action: dict[str, Any] | None = None  # the widget's own first server action
    custom: RecordedStream | None = None
    sync: JsonResponse | None = None
    after_a: JsonResponse | None = None  # items.list after A's actions
    b_custom: RecordedStream | None = None
    b_sync: JsonResponse | None = None
    after_b: JsonResponse | None = None
    wrong: list[RecordedStream | JsonResponse] = field(default_factory=list)  # non-widget/missing

    def streams(self) -> list[RecordedStream]:
        return [r for r in (self.created, self.custom, self.b_custom) if r is not None]


def server_action(node: Any) -> dict[str, Any] | None:
    """The first action a widget sends to the server (onClickAction, onSubmitAction, ...)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if (
                key.endswith("Action")
                and isinstance(value, dict)
                and isinstance(value.get("type"), str)
            ) and value.get("handler", "server") == "server":
                return {"type": value["type"], "payload": value.get("payload")}
        for value in node.values():
            found = server_action(value)
            if found:
                return found
    if isinstance(node, list):
        for value in node:
            found = server_action(value)
            if found:
                return found
    return None


def stored(resp: JsonResponse | None, item_id: str | None) -> dict[str, Any] | None:
    return next((i for i in page_items(resp) if i.get("id") == item_id), None)


@probe("widgets", long=True)
async def widgets(ctx: ProbeContext) -> Widgets:
    c = ctx.main
    ev = Widgets(await trigger(ctx, "widgets"))

    async def wrong_items() -> None:
        ev.plain, ptid = await new_thread(c, "A thread without widgets.")
        replies = done_items(ev.plain, "assistant_message")
        if ptid is not None and replies:
            rid = str(replies[-1].get("id"))
            ev.wrong = [
                await c.custom_action(ptid, rid, UNKNOWN_ACTION),
                await c.sync_custom_action(ptid, rid, UNKNOWN_ACTION),
                await c.custom_action(ptid, "msg_harness_missing", UNKNOWN_ACTION),
                await c.sync_custom_action(ptid, "msg_harness_missing", UNKNOWN_ACTION),
            ]

    # Two threads of their own: side by side.
    await asyncio.gather(wrong_items(), _widget_actions(ctx, ev))
    return ev


async def _widget_actions(ctx: ProbeContext, ev: Widgets) -> None:
    """The triggered widget's own action, streamed and sync; then user B's attempt."""
    c = ctx.main
    if ev.prompt is None:
        ev.hint = await untriggered_hint(ctx)
        return
    ev.created, tid = await triggered_thread(ctx, "widgets", ev.prompt)
    found = done_items(ev.created, "widget")
    ev.widget = found[0] if found else None
    ev.action = server_action(ev.widget.get("widget")) if ev.widget else None
    if tid is None or ev.widget is None or ev.action is None:
        return
    wid = str(ev.widget.get("id"))
    ev.custom = await c.custom_action(tid, wid, ev.action)
    ev.sync = await c.sync_custom_action(tid, wid, ev.action)
    ev.after_a = await items_of(c, tid)
    b = client_b(ctx)
    if b is not None:
        _, btid = await new_thread(b, "User B's own thread.")
        if btid is not None:
            ev.b_custom = await b.custom_action(btid, wid, ev.action)
            ev.b_sync = await b.sync_custom_action(btid, wid, ev.action)
        ev.after_b = await items_of(c, tid)
