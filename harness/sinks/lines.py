"""The plain line-per-check output of ``verify.py`` and ``chatkit-harness run``.

Lines are printed as checks finish, so a long run shows its progress.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from harness.redact import redact_text
from harness.results import CheckResult, Outcome, RunResult

MARKS = {
    Outcome.PASS: "✓",
    Outcome.FAIL: "✗",
    Outcome.WARN: "!",
    Outcome.SKIP: "-",
    Outcome.ERROR: "✗",
    Outcome.BASELINED: "~",
}


class LinePrinter:
    def __init__(self, out: TextIO | None = None, secrets: Iterable[str] = ()) -> None:
        self.out = out or sys.stdout
        self.secrets = list(secrets)

    def _p(self, text: str) -> None:
        print(redact_text(text, self.secrets), file=self.out, flush=True)

    def on_result(self, r: CheckResult) -> None:
        mark = MARKS[r.outcome]
        suffix = {
            Outcome.WARN: "  (SHOULD)",
            Outcome.SKIP: "  (skipped)",
            Outcome.ERROR: "  (error)",
            Outcome.BASELINED: "  (baselined)",
        }.get(r.outcome, "")
        self._p(f"{mark} {r.title}{suffix}  [{r.id}]")
        if r.outcome in (Outcome.FAIL, Outcome.WARN, Outcome.ERROR):
            if r.message:
                self._p(f"    {r.message}")
            if r.expected:
                self._p(f"    expected: {r.expected}")
            if r.actual:
                self._p(f"    actual:   {r.actual}")
            self._p(f"    pitfall: {r.pitfall}")
            self._p(f"    fix:     {r.fix}")
        elif r.outcome is Outcome.SKIP and r.message:
            self._p(f"    {r.message}")

    def verdict(self, run: RunResult) -> None:
        if run.harness_error:
            return  # the CLI prints the one error line on stderr
        c = run.counts()
        checks = len(run.results)
        if run.exit_code == 0:
            extra = []
            if c["warn"]:
                extra.append(f"{c['warn']} warnings")
            if c["skip-untestable"]:
                extra.append(f"{c['skip-untestable']} skipped")
            tail = f", {', '.join(extra)}" if extra else ""
            self._p(f"✓ chatkit deployment healthy ({checks} checks{tail})")
        else:
            bad = c["fail"] + c["error"]
            self._p(f"✗ chatkit deployment unhealthy: {bad} of {checks} checks failed")
