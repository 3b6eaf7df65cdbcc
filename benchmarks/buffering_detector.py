"""Buffering detector: the sse.unbuffered decision, N times on each side.

Two reference servers: a correct one, and one with ``--fault buffered-stream`` (the whole
body collected and sent at the end). Each run is a record phase as a real run has it: the
engine at ``--concurrency 8`` starts the protocol and errors probes and the check's own quiet
``stream-timing`` probe (a threads.create with the counting prompt), which runs once they are
done; the check's decision is then applied: harness.protocol.timing
``spread(rec.delta_times(), rec.elapsed)``, judged only when ``judgeable``, ``buffered``
being the verdict. Goal: 0 false positives on the correct server, every buffered run caught,
and the timed stream never overlapping another probe.

    .venv/bin/python benchmarks/buffering_detector.py [--quick] [--runs N]
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from bench_util import dev_key, header, line, median, parser, token

from harness.engine.context import ProbeContext
from harness.engine.plan import Engine
from harness.probes.streams import TimedTurns
from harness.protocol.timing import Spread, spread
from harness.target.config import Target
from harness.target.launch import start_reference_server

CONCURRENCY = 8
# What runs beside it in a real run: the conversation and the bad-request probes.
LOAD = ["first-turn", "conversation", "thread-reads", "rename", "delete", "bad-requests"]
LOAD += ["unknown-thread", "keepalive", "nothing-lost"]


def verdict_of(s: Spread) -> str:
    if not s.judgeable:
        return "untestable"
    return "buffered" if s.buffered else "unbuffered"


async def record(target: Target) -> tuple[TimedTurns, int]:
    """One record phase; the timed turns and how many probes overlapped the quiet one."""
    ctx = ProbeContext(target=target)
    engine = Engine(ctx, concurrency=CONCURRENCY)
    engine.start([*LOAD, "stream-timing"])
    try:
        turns: TimedTurns = await engine.get("stream-timing")
        for name in LOAD:
            await engine.get(name)
    finally:
        await engine.close()
        await ctx.aclose()
    quiet = engine.runs["stream-timing"]
    overlaps = sum(
        1
        for run in engine.runs.values()
        if run is not quiet and run.started < quiet.finished and quiet.started < run.finished
    )
    return turns, overlaps


async def probe(url: str, bearer: str, runs: int) -> tuple[Counter[str], list[Spread], int]:
    verdicts: Counter[str] = Counter()
    spreads: list[Spread] = []
    overlaps = 0
    for _ in range(runs):
        turns, overlapped = await record(Target(url=url, token=bearer, timeout=30))
        overlaps += overlapped
        rec = turns.edge
        if rec.status != 200 or rec.transport_error:
            verdicts["request failed"] += 1
            continue
        s = spread(rec.delta_times(), rec.elapsed)
        spreads.append(s)
        verdicts[verdict_of(s)] += 1
    return verdicts, spreads, overlaps


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, help="runs per server (default 50, --quick 10)")
    ns = p.parse_args()
    runs = ns.runs or (10 if ns.quick else 50)
    header(
        f"buffering detector (sse.unbuffered), {runs} runs per server, each a record phase "
        f"at concurrency {CONCURRENCY}"
    )
    key = dev_key()
    bearer = token(key, "bench")
    base = ["--db", ":memory:", "--dev-key", str(key)]
    results = {}
    for name, extra in (("correct", []), ("buffered-stream", ["--fault", "buffered-stream"])):
        server = start_reference_server([*base, *extra])
        try:
            results[name] = asyncio.run(probe(server.url, bearer, runs))
        finally:
            server.stop()
        verdicts, spreads, _ = results[name]
        bursts = median([s.bursts for s in spreads])
        deltas = median([s.deltas for s in spreads])
        gap = median([s.median_gap * 1000 for s in spreads])
        print(
            f"{name:<16} {dict(verdicts)}; median {deltas:.0f} deltas in {bursts:.0f} bursts, "
            f"median gap {gap:.1f} ms",
            flush=True,
        )
    correct, _, overlaps_c = results["correct"]
    buffered, _, overlaps_b = results["buffered-stream"]
    false_pos = correct["buffered"]
    not_judged = runs - correct["unbuffered"] - false_pos
    line(
        "false positives (correct server flagged)",
        f"{false_pos}/{runs}" + (f" ({not_judged} not judged)" if not_judged else ""),
        "0",
        false_pos == 0 and not_judged == 0,
    )
    caught = buffered["buffered"]
    line("buffered-stream detected", f"{caught}/{runs}", f"{runs}/{runs}", caught == runs)
    overlaps = overlaps_c + overlaps_b
    line("probes overlapping the timed stream", str(overlaps), "0", overlaps == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
