"""Deciding "buffered or not" from arrival times, robustly on a noisy 2-core machine.

An unbuffered stream delivers deltas as they are generated, so their arrival times form many
separate moments. A buffering proxy (nginx's default ``proxy_buffering on``, a gzip layer)
releases them in one or a few bursts. Counting bursts, not measuring gaps, keeps the verdict
stable when the machine stalls for a few ms: a stall merges neighbours, it cannot merge 60
deltas into 3 bursts.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

BURST_GAP = 0.004  # arrivals closer than 4 ms belong to one burst (one socket read or so)
MIN_DELTAS = 5
MIN_SPAN = 0.300  # the stream must last at least 300 ms for a verdict


@dataclass(frozen=True)
class Spread:
    deltas: int
    bursts: int
    span: float  # first to last delta arrival
    elapsed: float  # request sent to end of body
    median_gap: float

    @property
    def judgeable(self) -> bool:
        return self.deltas >= MIN_DELTAS and self.elapsed >= MIN_SPAN

    @property
    def buffered(self) -> bool:
        """Fewer bursts than a quarter of the deltas (and at most a few) means held back."""
        return self.bursts < max(3, self.deltas // 4)

    def describe(self) -> str:
        return (
            f"{self.deltas} deltas in {self.bursts} bursts over {self.span * 1000:.0f} ms "
            f"(stream {self.elapsed * 1000:.0f} ms, median gap {self.median_gap * 1000:.1f} ms)"
        )


def spread(times: list[float], elapsed: float) -> Spread:
    times = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    bursts = 1 + sum(g >= BURST_GAP for g in gaps) if times else 0
    return Spread(
        deltas=len(times),
        bursts=bursts,
        span=(times[-1] - times[0]) if times else 0.0,
        elapsed=elapsed,
        median_gap=statistics.median(gaps) if gaps else 0.0,
    )


def arrival_table(times: list[float], limit: int = 12) -> str:
    """Evidence: the arrival time of each delta, relative to the request."""
    rows = [f"delta {i + 1:>3}: +{t * 1000:8.1f} ms" for i, t in enumerate(times[:limit])]
    if len(times) > limit:
        rows.append(f"... {len(times) - limit} more, last at +{times[-1] * 1000:.1f} ms")
    return "\n".join(rows)
