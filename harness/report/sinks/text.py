"""The anatomy of a failure, formatted once and shared by every sink.

Each sink shows the same parts in the same order (title, expected vs actual, evidence, pitfall,
fix, reproduce), so a failure reads the same in the terminal, in a JUnit body and in a GitHub
annotation. Sinks style the parts; they never re-word them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from harness.report.results import CheckResult, Outcome, RunResult


class Part(enum.Enum):
    MESSAGE = "message"
    EXPECTED = "expected"
    ACTUAL = "actual"
    EVIDENCE = "evidence"
    PITFALL = "pitfall"
    FIX = "fix"
    REF = "ref"
    REPRO = "repro"
    BASELINE = "baseline"


LABELS = {
    Part.EXPECTED: "Expected",
    Part.ACTUAL: "Actual",
    Part.EVIDENCE: "Evidence",
    Part.PITFALL: "Pitfall",
    Part.FIX: "Fix",
    Part.REF: "Ref",
    Part.REPRO: "Reproduce",
    Part.BASELINE: "Baseline",
}
# Parts whose text keeps its own lines (shown indented under the label).
BLOCK_PARTS = frozenset({Part.EVIDENCE, Part.REPRO})

BROKEN = frozenset({Outcome.FAIL, Outcome.ERROR, Outcome.WARN})


@dataclass(frozen=True)
class Block:
    part: Part
    text: str

    @property
    def label(self) -> str:
        return LABELS.get(self.part, "")


def excerpt(text: str, max_lines: int | None) -> str:
    """The first ``max_lines`` lines of ``text``, saying how many were left out."""
    lines = text.splitlines()
    if max_lines is None or len(lines) <= max_lines:
        return "\n".join(lines)
    rest = len(lines) - max_lines
    return "\n".join([*lines[:max_lines], f"... ({rest} more lines in the JSON report)"])


def failure_blocks(r: CheckResult, *, evidence_lines: int | None = None) -> list[Block]:
    """The parts of a broken (or baselined) check, in display order, empty ones left out."""
    parts: list[tuple[Part, str]] = [
        (Part.MESSAGE, r.message),
        (Part.EXPECTED, r.expected),
        (Part.ACTUAL, r.actual),
        (Part.EVIDENCE, excerpt(r.evidence, evidence_lines)),
        (Part.PITFALL, r.pitfall),
        (Part.FIX, r.fix),
        (Part.REF, r.ref),
        (Part.REPRO, r.repro),
        (Part.BASELINE, r.baseline_reason),
    ]
    return [Block(part, text) for part, text in parts if text.strip()]


def failure_text(r: CheckResult, *, evidence_lines: int | None = None, indent: str = "") -> str:
    """A failure as plain text: the body of a JUnit failure, an annotation, a log line."""
    out: list[str] = []
    for block in failure_blocks(r, evidence_lines=evidence_lines):
        if block.part is Part.MESSAGE:
            out.append(block.text)
        elif block.part in BLOCK_PARTS:
            out.append(f"{block.label}:")
            out += [f"    {line}" for line in block.text.splitlines()]
        else:
            out.append(f"{block.label + ':':<10} {block.text}")
    return "\n".join(indent + line for line in out)


def heading(r: CheckResult) -> str:
    """``title [id]``: how every sink names one check."""
    return f"{r.title}  [{r.id}]"


def skip_reason(r: CheckResult) -> str:
    return r.message or "a precondition was not provided"


def broken(run: RunResult) -> list[CheckResult]:
    """The results that make the run fail (SHOULD failures only under --strict)."""
    bad = [r for r in run.results if r.outcome in (Outcome.FAIL, Outcome.ERROR)]
    if run.strict:
        bad += [r for r in run.results if r.outcome is Outcome.WARN]
    return bad


SLOW_RUN_S = 30.0  # a run longer than this says which probes took the time


def slow_line(run: RunResult) -> str | None:
    """Which probes a slow run waited on (runs of real deployments took minutes, and the
    first question is why); None for a run that was quick or recorded no probes."""
    if run.duration < SLOW_RUN_S or not run.probes:
        return None
    longest = sorted(run.probes, key=lambda t: t.elapsed, reverse=True)[:3]
    names = ", ".join(f"{t.name} {t.elapsed:.1f} s" for t in longest)
    return (
        f"the run took {run.duration:.0f} s; longest probes: {names} (every probe's time is in "
        'the JSON report\'s "probes"; --concurrency sets how many run side by side)'
    )


def verdict_lines(run: RunResult) -> list[str]:
    """The closing lines every terminal sink prints; the first word is ✓ or ✗."""
    if run.harness_error:
        return []  # the CLI prints the one error line on stderr
    c = run.counts()
    checks = len(run.results)
    out = [
        f"✗ stale baseline entry {cid!r}: the check passes now; remove it from the baseline file"
        for cid in run.stale_baseline
    ]
    if run.exit_code == 0:
        extra = []
        if c[Outcome.WARN.value]:
            extra.append(f"{c[Outcome.WARN.value]} warnings")
        if c[Outcome.SKIP.value]:
            extra.append(f"{c[Outcome.SKIP.value]} skipped")
        if c[Outcome.BASELINED.value]:
            extra.append(f"{c[Outcome.BASELINED.value]} baselined")
        if c[Outcome.BLOCKED.value]:
            extra.append(f"{c[Outcome.BLOCKED.value]} blocked")
        if c[Outcome.NOT_OFFERED.value]:
            extra.append(f"{c[Outcome.NOT_OFFERED.value]} not offered")
        tail = f", {', '.join(extra)}" if extra else ""
        out.append(f"✓ chatkit deployment healthy ({checks} checks{tail})")
    elif bad := broken(run):
        line = f"✗ chatkit deployment unhealthy: {len(bad)} of {checks} checks failed"
        if c[Outcome.BLOCKED.value]:
            line += f", {c[Outcome.BLOCKED.value]} blocked by them"
        out.append(line)
    else:
        n = len(run.stale_baseline)
        out.append(f"✗ run failed: {n} stale baseline {'entry' if n == 1 else 'entries'}")
    return out
