"""The diagnosis: failures grouped into symptoms, root causes first, artifacts named."""

from __future__ import annotations

import json
from pathlib import Path

from golden.sample import passing_run, sample_run

from harness.report.diagnose import diagnose, render_diagnosis
from harness.report.results import Outcome


def test_findings_are_ranked_root_cause_first() -> None:
    """MUST failures before SHOULD warnings before known ones; upstream areas first."""
    findings = diagnose(sample_run())
    assert [f.area for f in findings] == ["protocol", "errors", "sse", "history"]
    assert [f.severity for f in findings] == [0, 0, 1, 2]


def test_finding_carries_symptom_causes_and_fixes() -> None:
    """Each finding names the user-visible symptom, the pitfalls and the fixes."""
    first = diagnose(sample_run())[0]
    assert "widget" in first.symptom
    assert first.causes == ["pitfall of protocol.event-schema"]
    assert first.fixes == ["fix for protocol.event-schema"]


def test_artifacts_to_look_at(tmp_path: Path) -> None:
    """With an artifacts folder each finding points at the check's result and exchanges."""
    folder = tmp_path / "checks" / "protocol.event-schema"
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"exchanges": ["exchanges/0003-x.json"]}))
    (folder / "screenshot.png").write_bytes(b"")
    first = diagnose(sample_run(), tmp_path)[0]
    assert first.artifacts == [
        str(folder / "result.json"),
        str(tmp_path / "exchanges/0003-x.json"),
        str(folder / "screenshot.png"),
    ]
    assert str(folder / "result.json") in render_diagnosis(sample_run(), [first])


def test_rendered_summary() -> None:
    """The summary lists symptom, failing checks, causes, fix, and what was not tested."""
    run = sample_run()
    text = render_diagnosis(run, diagnose(run))
    assert text.startswith("Diagnosis, most likely root cause first:")
    assert "1. The widget shows nothing" in text
    assert "Fix this first" in text
    assert "Not tested (1)" in text and "auth.isolation" in text


def test_healthy_run() -> None:
    """No failure, no finding: the summary says so."""
    run = passing_run()
    run.results = [r for r in run.results if r.outcome is Outcome.PASS]
    assert render_diagnosis(run, diagnose(run)).startswith("Diagnosis: no check failed.")


def test_harness_error() -> None:
    """When the harness could not run, the diagnosis is that one line."""
    run = passing_run()
    run.harness_error = "cannot connect"
    assert render_diagnosis(run, []) == "The harness could not run: cannot connect\n"
