"""``chatkit-harness diagnose``: from a run's results to a ranked list of what is wrong.

Failures are grouped by area, because one broken area shows as one symptom to a user (the
agent forgets the conversation, replies arrive all at once). Areas are ranked so the most
likely *root* cause comes first: MUST failures before SHOULD warnings, and upstream areas
before the ones that depend on them (a broken protocol or auth layer makes history and
metadata checks fail too, so fixing it first often clears the rest).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.report.results import CheckResult, Outcome, RunResult

# What a user of the deployment notices when an area is broken.
SYMPTOMS: dict[str, str] = {
    "protocol": "The widget shows nothing, or garbled, duplicated or vanishing messages",
    "auth": "Bad or missing credentials get in, or one user can reach another's threads",
    "sse": "Replies arrive all at once at the end (or never) instead of streaming",
    "history": "The agent forgets what was said earlier in the conversation",
    "metadata": "The agent does not know who the user is or which page they are on",
    "errors": "Bad requests crash the backend (bare 500s, dropped connections)",
    "latency": "The first reply is slow (cold start, slow first event)",
    "proxy": "Behind the frontend's proxy route the session is lost or replies stop streaming",
    "browser": "The page does not load ChatKit, or its custom fetch drops auth or context",
}
# Upstream first: later areas' checks depend on the earlier ones working.
ROOT_ORDER = [
    "protocol",
    "auth",
    "sse",
    "history",
    "metadata",
    "errors",
    "latency",
    "proxy",
    "browser",
]
GENERIC_SYMPTOM = "Checks of this area fail"


@dataclass
class Finding:
    area: str
    symptom: str
    results: list[CheckResult]
    artifacts: list[str] = field(default_factory=list)

    @property
    def severity(self) -> int:
        """0 is worst: a MUST failure or harness error, then SHOULD warnings, then known ones."""
        outcomes = {r.outcome for r in self.results}
        if outcomes & {Outcome.FAIL, Outcome.ERROR}:
            return 0
        if Outcome.WARN in outcomes:
            return 1
        return 2

    @property
    def causes(self) -> list[str]:
        return _unique(r.pitfall for r in self.results)

    @property
    def fixes(self) -> list[str]:
        return _unique(r.fix for r in self.results)


def diagnose(run: RunResult, artifacts: Path | None = None) -> list[Finding]:
    """The findings of ``run``, most likely root cause first."""
    broken = (Outcome.FAIL, Outcome.ERROR, Outcome.WARN, Outcome.BASELINED)
    by_area: dict[str, list[CheckResult]] = {}
    for r in run.results:
        if r.outcome in broken:
            by_area.setdefault(r.area, []).append(r)
    findings = [
        Finding(area, SYMPTOMS.get(area, GENERIC_SYMPTOM), results)
        for area, results in by_area.items()
    ]
    if artifacts is not None:
        for finding in findings:
            finding.artifacts = _artifact_files(artifacts, finding.results)
    findings.sort(key=lambda f: (f.severity, _root_rank(f.area), -len(f.results)))
    return findings


def _root_rank(area: str) -> int:
    return ROOT_ORDER.index(area) if area in ROOT_ORDER else len(ROOT_ORDER)


def _artifact_files(root: Path, results: list[CheckResult]) -> list[str]:
    """The files to open first: each check's result and the exchanges it made or cited."""
    out: list[str] = []
    for r in results:
        result_file = root / "checks" / r.id / "result.json"
        if not result_file.is_file():
            continue
        out.append(str(result_file))
        try:
            data = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out += [str(root / rel) for rel in data.get("exchanges", [])[:2]]
        extra = sorted(p for p in result_file.parent.iterdir() if p.name != "result.json")
        out += [str(p) for p in extra]
    return _unique(out)


def render_diagnosis(run: RunResult, findings: list[Finding]) -> str:
    """The ranked summary, as plain text (the terminal styles nothing here: it is for reading)."""
    if run.harness_error:
        return f"The harness could not run: {run.harness_error}\n"
    lines: list[str] = []
    if not findings:
        lines.append("Diagnosis: no check failed.")
    else:
        lines.append("Diagnosis, most likely root cause first:")
    for n, f in enumerate(findings, 1):
        tally = _tally(f.results)
        lines += ["", f"{n}. {f.symptom}  [{f.area}: {tally}]"]
        for r in f.results:
            lines.append(f"   - {r.id} ({r.level}, {r.outcome.value}): {r.title}")
            if r.message:
                lines.append(f"     {r.message.splitlines()[0]}")
        lines.append("   Likely causes:")
        lines += [f"     * {cause}" for cause in f.causes]
        lines.append("   Fix:")
        lines += [f"     * {fix}" for fix in f.fixes]
        if f.artifacts:
            lines.append("   Look at:")
            lines += [f"     {path}" for path in f.artifacts[:6]]
        later = findings[n:]
        if n == 1 and later and f.severity == 0 and _root_rank(f.area) < _root_rank(later[0].area):
            lines.append("   (Fix this first: the areas listed after it depend on it.)")
    skipped = [r for r in run.results if r.outcome is Outcome.SKIP]
    if skipped:
        lines += ["", f"Not tested ({len(skipped)}): a precondition is missing"]
        for reason, ids in _group_skips(skipped).items():
            lines.append(f"   - {reason}: {', '.join(ids)}")
    return "\n".join(lines) + "\n"


def _tally(results: list[CheckResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        key = f"{r.level} {r.outcome.value}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def _group_skips(results: list[CheckResult]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in results:
        groups.setdefault(r.message or "no reason given", []).append(r.id)
    return groups


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))
