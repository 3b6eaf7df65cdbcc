"""The timed stream: one long reply through the edge (and the origin), with arrival times.

Quiet: it runs once every other probe has finished, one quiet probe at a time, so the
arrival times show the target's pacing and not the harness's own load. The sse.* header
checks read the same turns, so the stream is sent once.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.protocol.client import RecordedStream

# A long enough reply for a verdict (at least 5 deltas over 300 ms) from a live model, and from
# an echoing offline model, which repeats the numbers back.
PROMPT = (
    "Count from one to forty in words, one number per line: one two three four five six seven "
    "eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen "
    "twenty twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six twenty-seven "
    "twenty-eight twenty-nine thirty thirty-one thirty-two thirty-three thirty-four thirty-five "
    "thirty-six thirty-seven thirty-eight thirty-nine forty"
)


@dataclass
class TimedTurns:
    edge: RecordedStream
    origin: RecordedStream | None  # None without --origin-url


@probe("stream-timing", quiet=True)
async def stream_timing(ctx: ProbeContext) -> TimedTurns:
    """threads.create with the counting prompt via the target URL, then via --origin-url."""
    async with ctx.timed_pace():
        edge = await ctx.main.create_thread(PROMPT)
    origin = None
    if ctx.target.origin_url:
        origin = await ctx.client(url=ctx.target.origin_url).create_thread(PROMPT)
    return TimedTurns(edge, origin)
