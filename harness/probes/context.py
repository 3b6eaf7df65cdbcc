"""Context propagation: the user's name and the page context, sent as the seed's custom fetch
sends them, asked back from the agent on the first turn, a follow-up, and as headers alone."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.glass.canary import codeword, metadata
from harness.protocol.client import RecordedStream, context_headers

ASK = "What is my name, and what is the title of the page I am on?"


@dataclass
class ContextProbe:
    user_name: str
    page_title: str
    page_url: str
    first: list[RecordedStream] = field(default_factory=list)  # threads.create with context
    follow_up: list[RecordedStream] = field(default_factory=list)  # add_user_message, context
    headers_only: list[RecordedStream] = field(default_factory=list)  # context as headers alone


@probe("context", long=True)
async def context(ctx: ProbeContext) -> ContextProbe:
    found = ContextProbe("User " + codeword(), "Page " + codeword(), "")
    meta = metadata("harness-user", found.user_name, found.page_title)
    page = meta.get("pageContext")
    found.page_url = str(page.get("url", "")) if isinstance(page, dict) else ""

    async def body_turns() -> None:
        rec = await ctx.main.create_thread(ASK, context=meta)
        found.first.append(rec)
        if rec.status == 200 and rec.thread_id:
            found.follow_up.append(
                await ctx.main.add_user_message(rec.thread_id, ASK, context=meta)
            )

    async def header_turn() -> None:
        # Whatever the target's context mode, this turn sends the context as headers alone.
        found.headers_only.append(await ctx.main.create_thread(ASK, headers=context_headers(meta)))

    jobs = [body_turns() for _ in range(ctx.target.repeat)]
    jobs += [header_turn() for _ in range(ctx.target.repeat)]
    await asyncio.gather(*jobs)
    return found
