"""Buffering detector: the sse.unbuffered decision, N times on each side.

Two reference servers: a correct one, and one with ``--fault buffered-stream`` (the whole
body collected and sent at the end). Each run records the check's own probe (a
threads.create with its counting prompt) and applies its own decision: harness.protocol.timing
``spread(rec.delta_times(), rec.elapsed)``, judged only when ``judgeable``, ``buffered``
being the verdict. Goal: 0 false positives on the correct server, every buffered run caught.

    .venv/bin/python benchmarks/buffering_detector.py [--quick] [--runs N]
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from bench_util import dev_key, header, line, median, parser, token

from harness.protocol.client import ChatKitClient
from harness.protocol.timing import Spread, spread
from harness.target.config import Target
from harness.target.launch import start_reference_server
from scenarios.test_sse import PROMPT  # the very prompt the check sends


def verdict_of(s: Spread) -> str:
    if not s.judgeable:
        return "untestable"
    return "buffered" if s.buffered else "unbuffered"


async def probe(url: str, bearer: str, runs: int) -> tuple[Counter[str], list[Spread]]:
    verdicts: Counter[str] = Counter()
    spreads: list[Spread] = []
    async with ChatKitClient(Target(url=url, token=bearer, timeout=30)) as client:
        for _ in range(runs):
            rec = await client.create_thread(PROMPT)
            if rec.status != 200 or rec.transport_error:
                verdicts["request failed"] += 1
                continue
            s = spread(rec.delta_times(), rec.elapsed)
            spreads.append(s)
            verdicts[verdict_of(s)] += 1
    return verdicts, spreads


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, help="runs per server (default 50, --quick 10)")
    ns = p.parse_args()
    runs = ns.runs or (10 if ns.quick else 50)
    header(f"buffering detector (sse.unbuffered), {runs} runs per server")
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
        verdicts, spreads = results[name]
        bursts = median([s.bursts for s in spreads])
        deltas = median([s.deltas for s in spreads])
        gap = median([s.median_gap * 1000 for s in spreads])
        print(
            f"{name:<16} {dict(verdicts)}; median {deltas:.0f} deltas in {bursts:.0f} bursts, "
            f"median gap {gap:.1f} ms",
            flush=True,
        )
    correct, _ = results["correct"]
    buffered, _ = results["buffered-stream"]
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
