"""Redaction applied by every sink before anything is written or printed.

Sinks never trust that a check already hid a secret: a target may echo a token back in a body
or a header value, and that text ends up in ``evidence``. So each sink passes every result
through :func:`redact_result` with the run's known secrets (plus the generic bearer/JWT
patterns of :func:`harness.report.redact.redact_text`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from harness.report.redact import redact_text
from harness.report.results import CheckResult, RunResult

_TEXT_FIELDS = ("title", "message", "expected", "actual", "evidence", "repro", "baseline_reason")


def redact_result(result: CheckResult, secrets: Iterable[str] = ()) -> CheckResult:
    """A copy of ``result`` whose free-text fields hold no secret."""
    keep = list(secrets)
    changes: dict[str, Any] = {
        name: redact_text(getattr(result, name), keep) for name in _TEXT_FIELDS
    }
    return dataclasses.replace(result, **changes)


def redact_run(run: RunResult, secrets: Iterable[str] = ()) -> RunResult:
    """A copy of ``run`` safe to hand to any sink."""
    keep = list(secrets)
    return dataclasses.replace(
        run,
        target=redact_text(run.target, keep),
        harness_error=redact_text(run.harness_error, keep),
        results=[redact_result(r, keep) for r in run.results],
        stale_baseline=list(run.stale_baseline),
    )
