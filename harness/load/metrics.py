"""The run's figures, read from Locust's statistics, and the thresholds judged on them.

Locust keeps, per (name, method), a histogram of response times in milliseconds (rounded
as Locust rounds them) plus request and failure counts; in distributed mode the master's
copy is the sum of the workers'. The figures here are computed from those histograms only,
so a local run and a distributed one are judged the same way. Duck-typed: no Locust import.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from harness.load.config import METRICS, Threshold

STREAM, FIRST_EVENT, FIRST_TEXT, GAP = "POST", "TTFE", "TTFT", "GAP"


def percentile(hist: Mapping[int, int], q: float) -> float:
    """Nearest-rank q-quantile (0..1) of a {value: count} histogram; NaN when empty."""
    total = sum(hist.values())
    if total == 0:
        return math.nan
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return float(value)
    return float(max(hist))


def _merged(entries: Iterable[Any]) -> Counter[int]:
    out: Counter[int] = Counter()
    for e in entries:
        out.update(e.response_times)
    return out


def compute(stats: Any, wall: float) -> dict[str, Any]:
    """{metric: value} (times in seconds) plus per-request-type rows for the table."""
    entries = list(stats.entries.values())
    by_method: dict[str, list[Any]] = {}
    for e in entries:
        by_method.setdefault(e.method, []).append(e)
    requests = by_method.get(STREAM, [])
    n = sum(e.num_requests for e in requests)
    fails = sum(e.num_failures for e in requests)
    ttfe = _merged(by_method.get(FIRST_EVENT, []))
    out: dict[str, Any] = {
        "ttfe_p50": percentile(ttfe, 0.50) / 1000,
        "ttfe_p95": percentile(ttfe, 0.95) / 1000,
        "ttfe_p99": percentile(ttfe, 0.99) / 1000,
        "ttfe_max": (max(ttfe) / 1000) if ttfe else math.nan,
        "ttft_p95": percentile(_merged(by_method.get(FIRST_TEXT, [])), 0.95) / 1000,
        "gap_p95": percentile(_merged(by_method.get(GAP, [])), 0.95) / 1000,
        "duration_p95": percentile(_merged(requests), 0.95) / 1000,
        "error_rate": (fails / n) if n else math.nan,
        "rps": (n / wall) if wall > 0 else math.nan,
        "requests": float(n),
        "failures": float(fails),
    }
    assert set(out) == set(METRICS)
    rows = []
    for e in sorted(requests, key=lambda e: e.name):
        ttfe_e = stats.entries.get((e.name, FIRST_EVENT))
        ttft_e = stats.entries.get((e.name, FIRST_TEXT))
        rows.append(
            {
                "name": e.name,
                "requests": e.num_requests,
                "failures": e.num_failures,
                "p50": percentile(e.response_times, 0.5) / 1000,
                "p95": percentile(e.response_times, 0.95) / 1000,
                "ttfe_p95": percentile(ttfe_e.response_times, 0.95) / 1000 if ttfe_e else None,
                "ttft_p95": percentile(ttft_e.response_times, 0.95) / 1000 if ttft_e else None,
            }
        )
    errors = []
    for err in getattr(stats, "errors", {}).values():
        errors.append({"name": err.name, "error": str(err.error), "occurrences": err.occurrences})
    errors.sort(key=lambda e: -int(e["occurrences"]))
    return {"metrics": out, "rows": rows, "errors": errors[:20]}


def judge(metrics: Mapping[str, float], thresholds: Iterable[Threshold]) -> list[dict[str, Any]]:
    out = []
    for t in thresholds:
        value = float(metrics[t.metric])
        out.append(
            {
                "threshold": t.text,
                "metric": t.metric,
                "value": None if math.isnan(value) else value,
                "crossed": t.crossed(value),
            }
        )
    return out
