"""History: a codeword planted in turn 1, asked for in turn 3; a fresh thread as the control.

Repeats (``--repeat N``) are independent conversations and run concurrently.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.engine.context import ProbeContext, settle
from harness.engine.probes import probe
from harness.glass.canary import Vote, codeword, vote
from harness.probes.conversation import done_ids, holds
from harness.protocol.client import JsonResponse, RecordedStream

ASK = "What was the codeword I gave you at the start? Reply with the codeword only."


@dataclass
class HistoryProbe:
    word: str
    recall: Vote
    control: Vote
    turns: list[RecordedStream]  # the three turns of the first recall conversation
    controls: list[RecordedStream]
    items: JsonResponse | None  # items.list of the first recall thread, settled


@probe("history", long=True)
async def history(ctx: ProbeContext) -> HistoryProbe:
    word = codeword()
    conversations: list[list[RecordedStream]] = []
    controls: list[RecordedStream] = []

    async def recall() -> str:
        turns: list[RecordedStream] = []
        conversations.append(turns)
        first = await ctx.main.create_thread(
            f"Remember this codeword for later: {word}. Just reply OK."
        )
        turns.append(first)
        tid = first.thread_id
        if not tid or first.status != 200:
            return ""
        turns.append(await ctx.main.add_user_message(tid, "What is two plus two?"))
        third = await ctx.main.add_user_message(tid, ASK)
        turns.append(third)
        return third.assistant_text

    async def control() -> str:
        rec = await ctx.main.create_thread(ASK)
        controls.append(rec)
        return rec.assistant_text

    repeat = ctx.target.repeat
    recalled, controlled = await asyncio.gather(
        vote(recall, word, repeat), vote(control, word, repeat)
    )
    turns = conversations[0]
    items = None
    tid = turns[0].thread_id if turns else None
    if tid and len(turns) == 3:
        want = done_ids(*turns)
        _, items, _ = await settle(
            lambda: ctx.main.list_items(tid), lambda r: holds(r, want), ctx.settle
        )
    return HistoryProbe(word, recalled, controlled, turns, controls, items)
