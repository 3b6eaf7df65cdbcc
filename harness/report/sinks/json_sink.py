"""The JSON report (``--json PATH`` / ``--chatkit-json PATH``).

One document per run. ``schema_version`` moves only when a field changes meaning or goes
away (adding a field does not bump it). Each check carries the catalogue fields verbatim
(level, pitfall, fix, ref), so a dashboard needs nothing else to explain a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.report.results import SCHEMA_VERSION, RunResult
from harness.report.sinks.redacted import redact_run


def run_to_json(
    run: RunResult, secrets: Iterable[str] = (), *, artifacts: str | None = None
) -> dict[str, Any]:
    run = redact_run(run, secrets)
    checks = []
    for r in run.results:
        data = r.to_json()
        data["duration"] = round(r.duration, 3)
        checks.append(data)
    return {
        "schema_version": SCHEMA_VERSION,
        "harness": "chatkit-harness",
        "harness_version": run.harness_version,
        "target": run.target,
        "exit_code": run.exit_code,
        "strict": run.strict,
        "duration": round(run.duration, 3),
        "counts": run.counts(),
        "harness_error": run.harness_error or None,
        "stale_baseline": list(run.stale_baseline),
        "artifacts": artifacts,
        "checks": checks,
        "probes": [
            {
                "name": t.name,
                "quiet": t.quiet,
                "started": round(t.started, 3),
                "elapsed": round(t.elapsed, 3),
                "error": t.error or None,
            }
            for t in run.probes
        ],
    }


def render_json(
    run: RunResult, secrets: Iterable[str] = (), *, artifacts: str | None = None
) -> str:
    doc = run_to_json(run, secrets, artifacts=artifacts)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_json(
    run: RunResult, path: str | os.PathLike[str], secrets: Iterable[str] = (), **kw: Any
) -> Path:
    return write_text(path, render_json(run, secrets, **kw))


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a report atomically: a reader (CI uploading it) never sees half a file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
