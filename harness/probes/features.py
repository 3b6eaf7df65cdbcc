"""What the feature probes share: triggers, user B, reading items out of answers.

Features a generic probe cannot provoke (a widget only the app's own tool renders) are
triggered with a prompt: the user's ``--trigger FEATURE=PROMPT``, for the bundled reference
server its own keywords, or in glass-box mode the tool tour's prompt that made the model stub
call the app's own tool (tool_tour.py). Without any, the checks judge whatever the recorded
streams happen to carry and say what to pass when they carry nothing.
"""

from __future__ import annotations

from typing import Any

from harness.engine.context import ProbeContext
from harness.protocol.client import ChatKitClient, Exchange, JsonResponse, RecordedStream
from harness.target.config import ConfigError

# The bundled reference server's keywords (reference_server/features.py), one per feature.
BUNDLED_TRIGGERS: dict[str, str] = {
    "widgets": "Show me the vote widget, please. #harness-widget",
    "client-tools": "What have I selected? #harness-client-tool",
    "structured-input": "Ask me which colour I want. #harness-structured-input",
    "progress": "Look something up and show progress. #harness-progress",
    "client-effect": "Highlight the composer. #harness-effect",
    "notice": "Show a notice. #harness-notice",
    "closed-thread": "Please close this conversation. #harness-close",
}
FEATURES = tuple(BUNDLED_TRIGGERS)


async def trigger(ctx: ProbeContext, feature: str) -> str | None:
    """The prompt that makes the target show ``feature``, or None when nothing does.

    In order: the user's --trigger; the bundled server's keyword; in glass-box mode, the tool
    tour's prompt for the first tool whose stream showed the feature.
    """
    from harness.probes.tool_tour import tour_trigger  # the tour reads items with our helpers

    given = ctx.target.triggers.get(feature)
    if given:
        return given
    if ctx.target.bundled:
        return BUNDLED_TRIGGERS[feature]
    return await tour_trigger(ctx, feature)


async def triggered_thread(
    ctx: ProbeContext, feature: str, prompt: str
) -> tuple[RecordedStream, str | None]:
    """User A's thread opened with the trigger ``prompt``: the tool tour's own, when the tour
    found the feature with that prompt and no other probe took it, else a new one."""
    from harness.probes.tool_tour import claim_stop

    stop = await claim_stop(ctx, feature, prompt)
    if stop is not None and stop.created is not None:
        return stop.created, stop.created.thread_id
    return await new_thread(ctx.main, prompt)


async def untriggered_hint(ctx: ProbeContext) -> str:
    """For a feature :func:`trigger` found no prompt for: what else could reach it ("; ...")."""
    from harness.probes.tool_tour import tour_hint

    return await tour_hint(ctx)


def client_b(ctx: ProbeContext) -> ChatKitClient | None:
    """User B's recording client (isolation probes), None when no second user is configured."""
    try:
        identity = ctx.target.identity("b")
    except ConfigError:
        return None
    return ctx.client(identity) if identity is not None else None


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def done_items(rec: RecordedStream | None, kind: str | None = None) -> list[dict[str, Any]]:
    """Items the stream finished (thread.item.done), of ``kind`` when given."""
    out: list[dict[str, Any]] = []
    for p in rec.of_type("thread.item.done") if rec is not None else []:
        item = obj(p.get("item"))
        if item and (kind is None or item.get("type") == kind):
            out.append(item)
    return out


def page_items(resp: JsonResponse | None) -> list[dict[str, Any]]:
    """The rows of a Page answer (items.list, threads.list)."""
    data = resp.json if resp is not None else None
    rows = data.get("data") if isinstance(data, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def item_text(item: dict[str, Any]) -> str:
    parts = item.get("content")
    if not isinstance(parts, list):
        return ""
    return "".join(str(obj(p).get("text", "")) for p in parts)


def usable(rec: RecordedStream | None) -> bool:
    return rec is not None and rec.status == 200 and not rec.transport_error and bool(rec.events)


async def new_thread(client: ChatKitClient, text: str) -> tuple[RecordedStream, str | None]:
    """threads.create; the thread id when it streamed one."""
    rec = await client.create_thread(text)
    return rec, rec.thread_id if usable(rec) else None


async def items_of(client: ChatKitClient, thread_id: str) -> JsonResponse:
    return await client.list_items(thread_id, limit=100, order="asc")


def all_exchanges(*values: Any) -> list[Exchange]:
    """Every exchange in the given evidence values (lists and None allowed)."""
    out: list[Exchange] = []
    for value in values:
        if isinstance(value, Exchange):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out.extend(v for v in value if isinstance(v, Exchange))
    return out
