"""GitHub Actions workflow commands: ``::error`` / ``::warning`` lines, when GITHUB_ACTIONS=true.

An annotation shows on the run's summary page without opening the log. Escaping follows the
runner's workflow-command rules: in the message ``%``, CR and LF are %-encoded; in property
values ``:`` and ``,`` are too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from harness.results import Outcome, RunResult
from harness.sinks.redacted import redact_run
from harness.sinks.text import failure_text

MAX_MESSAGE = 4000  # the annotation UI truncates long bodies; keep the useful head


def enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, title: str, message: str) -> str:
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "\n..."
    return f"::{kind} title={escape_property(title)}::{escape_data(message)}"


def annotation_lines(run: RunResult, secrets: Iterable[str] = ()) -> list[str]:
    run = redact_run(run, secrets)
    if run.harness_error:
        return [_command("error", "chatkit-harness could not run", run.harness_error)]
    out = []
    for r in run.results:
        if r.outcome in (Outcome.FAIL, Outcome.ERROR):
            kind = "error"
        elif r.outcome is Outcome.WARN:
            kind = "error" if run.strict else "warning"
        else:
            continue
        title = f"{r.id} ({r.level}): {r.title}"
        out.append(_command(kind, title, failure_text(r, evidence_lines=8)))
    for cid in run.stale_baseline:
        message = (
            f"baseline entry {cid} is stale: the check passes now; remove it from the baseline"
        )
        out.append(_command("error", f"{cid}: stale baseline entry", message))
    return out
