"""The plain line-per-check output of ``verify.py`` and ``chatkit-harness run`` off a TTY.

Lines are printed as checks finish, so a long run shows its progress. The format is stable
(scripts grep it): ``✓ title  [id]`` for a pass, ``✗ title  [id]`` for a failure with the
message, expected/actual, pitfall and fix indented under it, and a closing verdict line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from harness.report.redact import redact_text
from harness.report.results import CheckResult, Outcome, RunResult
from harness.report.sinks.text import slow_line, verdict_lines

MARKS = {
    Outcome.PASS: "✓",
    Outcome.FAIL: "✗",
    Outcome.WARN: "!",
    Outcome.SKIP: "-",
    Outcome.ERROR: "✗",
    Outcome.BASELINED: "~",
    Outcome.BLOCKED: "⊘",
    Outcome.NOT_OFFERED: "·",
}
SUFFIX = {
    Outcome.WARN: "  (SHOULD)",
    Outcome.SKIP: "  (skipped)",
    Outcome.ERROR: "  (error)",
    Outcome.BASELINED: "  (baselined)",
    Outcome.BLOCKED: "  (blocked)",
    Outcome.NOT_OFFERED: "  (not offered)",
}


class LinePrinter:
    def __init__(self, out: TextIO | None = None, secrets: Iterable[str] = ()) -> None:
        self.out = out or sys.stdout
        self.secrets = list(secrets)

    def add_secret(self, secret: str) -> None:
        """A credential learned during the run (a minted or attack token): hide it too."""
        self.secrets.append(secret)

    def _p(self, text: str) -> None:
        print(redact_text(text, self.secrets), file=self.out, flush=True)

    def on_result(self, r: CheckResult) -> None:
        self._p(f"{MARKS[r.outcome]} {r.title}{SUFFIX.get(r.outcome, '')}  [{r.id}]")
        if r.outcome in (Outcome.FAIL, Outcome.WARN, Outcome.ERROR):
            if r.message:
                self._p(f"    {r.message}")
            if r.expected:
                self._p(f"    expected: {r.expected}")
            if r.actual:
                self._p(f"    actual:   {r.actual}")
            self._p(f"    pitfall: {r.pitfall}")
            self._p(f"    fix:     {r.fix}")
            if r.repro:
                self._p(f"    repro:   {r.repro}")
        elif r.outcome is Outcome.PASS and r.message:
            self._p(f"    note: {r.message}")  # the condition the pass holds under
        elif r.outcome is Outcome.SKIP and r.message:
            self._p(f"    {r.message}")
        elif r.outcome is Outcome.BLOCKED:
            self._p(f"    blocked by {r.blocked_by}: {r.message}")
        elif r.outcome is Outcome.NOT_OFFERED and r.message:
            self._p(f"    not offered: {r.message}")
        elif r.outcome is Outcome.BASELINED and r.baseline_reason:
            self._p(f"    known failure: {r.baseline_reason}")

    def verdict(self, run: RunResult) -> None:
        slow = slow_line(run)
        if slow and not run.harness_error:
            self._p(slow)
        for line in verdict_lines(run):
            self._p(line)
