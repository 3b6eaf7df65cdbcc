"""The end of a load run: the summary table, the verdict lines and the JSON file."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from harness.load.invariants import INVARIANTS
from harness.report.redact import redact_text


def _s(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


def render(result: dict[str, Any], out: TextIO, secrets: Sequence[str] = ()) -> None:
    lines: list[str] = []
    m = result["metrics"]
    head = f"{'request':<28} {'reqs':>6} {'fails':>6} {'p50':>9} {'p95':>9} {'TTFE p95':>9}"
    lines += ["", head + f" {'TTFT p95':>9}", "-" * (len(head) + 10)]
    for row in result["rows"]:
        lines.append(
            f"{row['name']:<28} {row['requests']:>6} {row['failures']:>6} {_s(row['p50']):>9} "
            f"{_s(row['p95']):>9} {_s(row['ttfe_p95']):>9} {_s(row['ttft_p95']):>9}"
        )
    lines.append("")
    lines.append(
        f"{result['users']} users, {result['workers']} worker(s), {result['wall']:.1f} s: "
        f"{m['requests']:.0f} requests ({m['rps']:.1f}/s), error rate "
        f"{m['error_rate'] * 100 if not math.isnan(m['error_rate']) else math.nan:.2f} %, "
        f"TTFE p50 {_s(m['ttfe_p50'])} p95 {_s(m['ttfe_p95'])} max {_s(m['ttfe_max'])}, "
        f"TTFT p95 {_s(m['ttft_p95'])}, gap p95 {_s(m['gap_p95'])}"
    )
    for err in result.get("errors", [])[:5]:
        lines.append(f"  failure x{err['occurrences']} {err['name']}: {err['error'][:160]}")
    lines.append("")
    for t in result["thresholds"]:
        mark = "✗" if t["crossed"] else "✓"
        value = t["value"]
        shown = "not measured" if value is None else f"{value:.4g}"
        lines.append(f"{mark} threshold {t['threshold']}: {t['metric']} = {shown}")
    inv = result["invariants"]
    for name in INVARIANTS:
        entry = inv.get(name) or {}
        bad = int(entry.get("violations", 0))
        mark = "✗" if bad else "✓"
        lines.append(
            f"{mark} invariant {name}: {bad} violation(s) over {entry.get('checked', 0)} users"
        )
        for ev in entry.get("evidence", [])[:5]:
            lines.append(f"    {ev['user']}: {ev['detail'][:300]}")
    note = (
        f"  checked after the run: {inv.get('_threads', 0)} threads, {inv.get('_items', 0)} "
        f"items announced done; {inv.get('_interrupted', 0)} streams cut by the end of the run"
    )
    lines.append(note)
    if inv.get("_shared_identity"):
        lines.append(
            "  note: users shared an identity (--token): isolation is judged only between "
            "different identities; --issuer-key/--issuer-port gives every user its own"
        )
    lines.append("")
    lines.append(f"load: {result['verdict']}")
    out.write(redact_text("\n".join(lines) + "\n", list(secrets)))
    out.flush()


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_json(result: dict[str, Any], path: str, secrets: Sequence[str] = ()) -> None:
    text = json.dumps(_clean(result), indent=2, sort_keys=True)
    Path(path).write_text(redact_text(text, list(secrets)) + "\n", encoding="utf-8")
