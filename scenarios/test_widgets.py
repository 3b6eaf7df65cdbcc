"""Widgets and widget actions (threads.custom_action, threads.sync_custom_action).

Judgments only: evidence from harness/probes/widgets.py.
"""

from __future__ import annotations

from typing import Any

from harness.engine.expect import evidence_of, json_ok, stream_ok
from harness.engine.offers import needs_trigger, refused_cleanly, require_offered
from harness.probes.features import obj
from harness.probes.widgets import Widgets, stored
from harness.protocol.events import event_problem
from harness.registry import MUST, check
from harness.report.results import fail, untestable

REF = "openai-chatkit 1.6.5 chatkit/server.py action, sync_action; chatkit/widgets.py"
ROOT = "actions.custom"


def _widget(ev: Widgets) -> dict[str, Any]:
    needs_trigger(ev.prompt, "widgets", ev.widget is not None, "widget item", ev.hint)
    assert ev.widget is not None
    if ev.action is None:
        untestable("the widget has no server action (onClickAction with handler 'server')")
    return ev.widget


def _is_widget_event(p: dict[str, Any]) -> bool:
    item = obj(p.get("item"))
    update = obj(p.get("update"))
    return item.get("type") == "widget" or str(update.get("type", "")).startswith("widget.")


@check(
    id="widgets.schema",
    title="Every widget item and widget update streamed validates against the SDK types",
    level=MUST,
    pitfall="Widgets built as hand-written JSON miss a required field or a component type: the "
    "client renders nothing, or drops the whole message.",
    fix="Build widgets from chatkit.widgets types (or .widget templates) and stream them with "
    "stream_widget.",
    ref=REF,
    probes=["widgets"],
)
def test_schema(evidence) -> None:
    ev: Widgets = evidence["widgets"]
    seen = [(r, p) for r in ev.streams() for p in r.payloads if _is_widget_event(p)]
    needs_trigger(ev.prompt, "widgets", bool(seen), "widget item", ev.hint)
    for rec, p in seen:
        problem = event_problem(p)
        if problem:
            fail(
                "a widget event is not a valid ChatKit event",
                actual=problem,
                evidence=evidence_of(rec),
            )


@check(
    id="actions.custom",
    title="A widget's own action (threads.custom_action) streams and its result is stored",
    level=MUST,
    pitfall="The action answers with the updated widget but never saves it: the click is lost "
    "on reload.",
    fix="Yield ThreadItemReplacedEvent (saved by the SDK) or save the item yourself.",
    ref=REF,
    probes=["widgets"],
)
def test_custom(evidence) -> None:
    ev: Widgets = evidence["widgets"]
    widget = _widget(ev)
    require_offered(ev.custom, "widget actions", ROOT)
    assert ev.custom is not None
    rec = stream_ok(ev.custom, "threads.custom_action")
    if rec.of_type("error"):
        fail("the widget's own action ended in an error event", evidence=evidence_of(rec))
    replaced = [obj(p.get("item")) for p in rec.of_type("thread.item.replaced")]
    roots = [obj(obj(p.get("update")).get("widget")) for p in rec.of_type("thread.item.updated")]
    streamed = (replaced[-1].get("widget") if replaced else None) or (roots[-1] if roots else None)
    if streamed is None:
        return  # the action changed nothing in the widget: nothing to be stored
    # The sync action runs after this one and may change the widget again: what must hold
    # is that the stored widget is no longer the one first shown.
    now = stored(ev.after_a, widget.get("id"))
    if now is None or now.get("widget") == widget.get("widget"):
        fail(
            "the widget's new state was streamed but not stored",
            actual=f"stored widget: {str(now and now.get('widget'))[:200]}",
            evidence=evidence_of(ev.after_a) if ev.after_a else "",
        )


@check(
    id="actions.sync",
    title="threads.sync_custom_action answers a valid result and stores the updated item",
    level=MUST,
    pitfall="sync_action returns updated_item without saving it: the widget flips back on reload.",
    fix="Save the updated item before returning SyncCustomActionResponse.",
    ref=REF,
    probes=["widgets"],
)
def test_sync(evidence) -> None:
    ev: Widgets = evidence["widgets"]
    widget = _widget(ev)
    require_offered(ev.sync, "widget actions", ROOT)
    assert ev.sync is not None
    data = json_ok(ev.sync, "threads.sync_custom_action")
    updated = data.get("updated_item")
    if updated is None:
        return
    now = stored(ev.after_a, widget.get("id"))
    if now is None or now.get("widget") != obj(updated).get("widget"):
        fail(
            "the sync action's updated_item is not what the thread stores",
            evidence=evidence_of(ev.after_a) if ev.after_a else "",
        )


@check(
    id="actions.unknown-item",
    title="An action on a non-widget or missing item is refused cleanly",
    level=MUST,
    pitfall="The sender item is used without a check: an action naming a reply or a deleted "
    "widget crashes with a 500.",
    fix="Refuse items that are missing (404) or not widgets (400 / the SDK's error event).",
    ref=REF,
    probes=["widgets"],
)
def test_unknown_item(evidence) -> None:
    ev: Widgets = evidence["widgets"]
    if not ev.wrong:
        untestable("the plain thread produced no reply to aim an action at")
    require_offered(ev.wrong[1], "widget actions", "protocol.create-order")
    for ex, what in zip(
        ev.wrong,
        (
            "custom action on a reply",
            "sync action on a reply",
            "custom action on a missing item",
            "sync action on a missing item",
        ),
        strict=True,
    ):
        refused_cleanly(ex, what)


@check(
    id="actions.other-user",
    title="An action naming another user's widget changes nothing",
    level=MUST,
    pitfall="The widget is looked up by item id alone (ids are unique, after all): any user can "
    "click any user's buttons.",
    fix="Load the item within the request's thread, loaded for the authenticated user.",
    ref=REF,
    probes=["widgets"],
)
def test_other_user(evidence) -> None:
    ev: Widgets = evidence["widgets"]
    widget = _widget(ev)
    require_offered(ev.sync, "widget actions", ROOT)
    if ev.b_sync is None or ev.b_custom is None:
        untestable("needs a second user (--token-b)")
    before = stored(ev.after_a, widget.get("id"))
    after = stored(ev.after_b, widget.get("id"))
    if before != after:
        fail(
            "user B's action changed user A's widget",
            evidence=evidence_of(ev.after_b) if ev.after_b else "",
        )
    refused_cleanly(ev.b_sync, "user B's sync action on user A's widget")
    refused_cleanly(ev.b_custom, "user B's custom action on user A's widget")
