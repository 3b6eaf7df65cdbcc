"""Glass box: conversations whose every model call the model stub recorded.

Probes run concurrently, so a model call belongs to a probe only when it carries the probe's
nonce (every message of a glass conversation holds it, and so does any model call made from
its history); "the calls since a mark" would pick up other probes' calls. The pacing turn
changes the stub's token schedule, which would slow every other probe's replies, so it is a
quiet probe and runs alone.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

from harness.engine.context import ProbeContext, settle
from harness.engine.probes import probe
from harness.glass.box import GlassBox
from harness.glass.canary import metadata
from harness.glass.model_input import Turn, model_text
from harness.glass.model_stub import RecordedModelRequest
from harness.probes.conversation import done_ids, holds
from harness.protocol.client import JsonResponse, RecordedStream
from harness.report.redact import redact_text
from harness.target.config import Target

TURNS = 3
# The schedule of the pacing turn, which the pass-through check compares with what arrives:
# slower than the session's, so the gaps stand well above scheduler noise.
PACED_TOKEN_DELAY = 0.02
CALL_SETTLE = 3.0  # the target may close its stream a moment before the stub's last byte


@dataclass
class GlassTurn:
    turn: Turn
    rec: RecordedStream
    started: float  # time.monotonic() just before the request went out
    calls: list[RecordedModelRequest]  # the model calls that carry this turn's marker
    answer: RecordedModelRequest | None  # the call whose reply the user was shown


@dataclass
class GlassProbe:
    box: GlassBox
    user_name: str
    page_title: str
    turns: list[GlassTurn] = field(default_factory=list)
    items: JsonResponse | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    every_call: list[RecordedModelRequest] = field(default_factory=list)  # the whole run's

    @property
    def calls(self) -> list[RecordedModelRequest]:
        return [c for t in self.turns for c in t.calls]

    def endpoint(self) -> str:
        used = Counter(c.endpoint for c in self.calls)
        return used.most_common(1)[0][0] if used else "(none)"

    def scrub(self, text: str) -> str:
        return redact_text(text, list(self.secrets.values()))


def turn_text(k: int, marker: str) -> str:
    # Two lines on purpose: repr() writes the newline as '\n', so a history built from object
    # reprs cannot contain the message verbatim, while real text always does.
    return f"Glass-box turn {k} of {TURNS}, marker {marker}.\nSecond line: please answer briefly."


def answer_of(
    calls: list[RecordedModelRequest], turn: Turn, shown: str
) -> RecordedModelRequest | None:
    """The model call that produced the reply the user saw for ``turn``."""
    asked = [c for c in calls if c.user_texts() and turn.user in c.user_texts()[-1]]
    asked = asked or [c for c in calls if turn.marker in model_text(c)]
    shown_flat = " ".join(shown.split())
    answered = [c for c in asked if c.reply and " ".join(c.reply.split()) in shown_flat]
    pick = answered or asked or calls
    return pick[-1] if pick else None


def secrets_of(target: Target) -> dict[str, str]:
    found = {
        "the test user's access token": target.token,
        "the second user's access token": target.token_b,
        "the session cookie": target.cookie,
    }
    for name, value in {**target.headers, **target.user_headers_a}.items():
        if name.lower() in ("authorization", "cookie", "x-api-key", "api-key"):
            found[f"the {name} header"] = value.split(" ", 1)[-1]
    return {what: value for what, value in found.items() if value}


def replies_of(rec: RecordedStream) -> list[tuple[str, str]]:
    """(item id, final text) of each assistant message the stream carried.

    A message starts with its thread.item.added and its text is that of its last
    thread.item.done, so one message finished after every chunk counts once; two messages
    added under one id count twice. A done without an added is a message of its own.
    """
    out: list[tuple[str, str]] = []
    open_at: dict[str, int] = {}  # item id -> index in out of the message it names now
    for p in rec.payloads:
        item = p.get("item")
        if not isinstance(item, dict) or item.get("type") != "assistant_message":
            continue
        item_id = str(item.get("id"))
        if p.get("type") == "thread.item.added":
            open_at[item_id] = len(out)
            out.append((item_id, ""))
        elif p.get("type") == "thread.item.done":
            at = open_at.get(item_id)
            if at is None:
                open_at[item_id] = len(out)
                out.append((item_id, item_text(item)))
            else:
                out[at] = (item_id, item_text(item))
    return out


def item_text(item: dict[str, object]) -> str:
    """The text of a ChatKit assistant_message item (its content parts joined)."""
    content = item.get("content")
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


def shown_reply(rec: RecordedStream) -> str:
    """The reply text a ChatKit client shows: each message as its last done left it."""
    return "\n".join(text for _, text in replies_of(rec))


async def calls_with(box: GlassBox, since: int, marker: str) -> list[RecordedModelRequest]:
    """The model calls from ``since`` on whose text holds ``marker``, once they finished."""
    deadline = time.monotonic() + CALL_SETTLE
    while True:
        got = await asyncio.to_thread(box.calls, since, settle=0)
        mine = [c for c in got if marker in model_text(c)]
        if all(c.finished_at is not None for c in mine) or time.monotonic() >= deadline:
            return mine
        await asyncio.sleep(0.02)


@probe("glass", long=True)
async def glass(ctx: ProbeContext) -> GlassProbe | None:
    """Three turns with context; every model call they caused, as the stub recorded it."""
    box = ctx.glass
    if box is None:
        return None
    nonce = secrets.token_hex(3)
    found = GlassProbe(box, f"User canary-name-{nonce}", f"Page canary-title-{nonce}")
    found.secrets = secrets_of(ctx.target)
    meta = metadata("harness-glass-user", found.user_name, found.page_title)
    since = await asyncio.to_thread(box.mark)
    thread_id: str | None = None
    streams: list[RecordedStream] = []
    for k in range(1, TURNS + 1):
        marker = f"canary-turn{k}-{nonce}"
        text = turn_text(k, marker)
        started = time.monotonic()
        if k == 1:
            rec = await ctx.main.create_thread(text, context=meta)
            thread_id = rec.thread_id
        else:
            rec = await ctx.main.add_user_message(thread_id or "", text, context=meta)
        streams.append(rec)
        calls = await calls_with(box, since, marker)
        turn = Turn(text, shown_reply(rec), marker)
        found.turns.append(GlassTurn(turn, rec, started, calls, answer_of(calls, turn, turn.reply)))
        if rec.status != 200 or not thread_id:
            break
    if thread_id:
        tid, want = thread_id, done_ids(*streams)
        _, items, _ = await settle(
            lambda: ctx.main.list_items(tid), lambda r: holds(r, want), ctx.settle
        )
        found.items = items
    found.every_call = await asyncio.to_thread(box.calls, 0, settle=0)
    return found


@dataclass
class PacedTurn:
    box: GlassBox
    turn: GlassTurn


@probe("glass-pacing", quiet=True)
async def glass_pacing(ctx: ProbeContext) -> PacedTurn | None:
    """One turn on a slow, known token schedule, alone: does the schedule reach the client?"""
    box = ctx.glass
    if box is None:
        return None
    marker = f"canary-paced-{secrets.token_hex(3)}"
    text = turn_text(1, marker)
    since = await asyncio.to_thread(box.mark)
    started = time.monotonic()
    with box.schedule(PACED_TOKEN_DELAY):
        rec = await ctx.main.create_thread(text)
    calls = await calls_with(box, since, marker)
    turn = Turn(text, shown_reply(rec), marker)
    return PacedTurn(box, GlassTurn(turn, rec, started, calls, answer_of(calls, turn, turn.reply)))
