"""Golden tests of every sink, fed the same hand-built run (tests/golden/sample.py).

Regenerate after an intended change with ``CHATKIT_UPDATE_GOLDEN=1 pytest tests/test_sinks.py``
and review the diff of tests/golden/.
"""

from __future__ import annotations

import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from golden.sample import SECRET, passing_run, sample_run

from harness.report.results import Outcome, RunResult
from harness.report.sinks import github
from harness.report.sinks.json_sink import render_json, write_json
from harness.report.sinks.junit import render_junit
from harness.report.sinks.lines import LinePrinter
from harness.report.sinks.terminal import RichReporter, plain_console

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CHATKIT_UPDATE_GOLDEN") == "1"


def mask_timings(text: str) -> str:
    return re.sub(r"\d+\.\d+s\b", "N.NNs", text)


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    actual = "\n".join(line.rstrip() for line in actual.splitlines()) + "\n"
    if UPDATE or not path.exists():
        path.write_text(actual, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"golden file {name} was missing and has been written; review it")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs (see module docstring)"


def rich_text(run: RunResult, width: int = 100) -> str:
    buf = io.StringIO()
    RichReporter(plain_console(buf, width=width), [SECRET]).render(run)
    return buf.getvalue()


def lines_text(run: RunResult) -> str:
    buf = io.StringIO()
    printer = LinePrinter(buf, secrets=[SECRET])
    for r in run.results:
        printer.on_result(r)
    printer.verdict(run)
    return buf.getvalue()


# -- terminal ------------------------------------------------------------------------------


def test_rich_report_matches_golden() -> None:
    """The rich report groups by area and details every failure, warning and known failure."""
    golden("terminal.txt", mask_timings(rich_text(sample_run())))


def test_rich_report_details_failure_anatomy() -> None:
    """A failure shows its title, expected vs actual, evidence, pitfall, fix and repro."""
    text = rich_text(sample_run())
    block = text.split("✗ protocol.event-schema · MUST · failed", 1)[1].split("\n\n", 1)[0]
    for part in ("Expected", "Actual", "Evidence", "Pitfall", "Fix", "Reproduce with:"):
        assert part in block
    assert "fix for protocol.event-schema" in block
    assert "curl -N -X POST http://127.0.0.1:8000/chatkit" in block
    assert "HTTP 200" in block and "thread.message.delta" in block


def test_rich_report_keeps_markup_in_target_text_literal() -> None:
    """Text from a target is printed as is: '[bold]' in a reply is not rich markup."""
    assert "Hi [bold]th" in rich_text(sample_run(), width=200)


def test_rich_repro_is_one_unbroken_line() -> None:
    """The repro command is printed unwrapped, so it copies as one line even when narrow."""
    text = rich_text(sample_run(), width=60)
    repro = [line for line in text.splitlines() if line.startswith("curl -N")]
    assert len(repro) == 1 and repro[0].endswith("""--data-raw '{"type": "threads.create"}'""")


def test_rich_report_of_a_stale_baseline_names_the_entry() -> None:
    """A stale baseline entry gets its own red line and fails the verdict."""
    text = rich_text(sample_run(stale=("history.persisted",)), width=200)
    assert "✗ stale baseline entry 'history.persisted'" in text


def test_rich_live_progress_draws_only_on_a_terminal() -> None:
    """Off a terminal the listener methods print nothing; the report comes at the end."""
    buf = io.StringIO()
    reporter = RichReporter(plain_console(buf), [SECRET])
    reporter.on_start(3)
    reporter.on_check_start("protocol.framing")
    for r in sample_run().results[:3]:
        reporter.on_result(r)
    reporter.stop()
    assert buf.getvalue() == ""
    assert reporter.counts[Outcome.FAIL] == 1


def test_rich_live_progress_shows_failures_as_they_happen() -> None:
    """On a terminal, each failure is printed above the progress bar when it happens."""
    buf = io.StringIO()
    console = plain_console(buf)
    reporter = RichReporter(console, [SECRET], live=True)
    reporter.on_start(2)
    reporter.on_result(sample_run().results[1])
    reporter.stop()
    assert "✗ protocol.event-schema" in buf.getvalue()


def test_plain_lines_match_golden() -> None:
    """The plain printer keeps its format: '✓ title  [id]', details indented, one verdict."""
    golden("lines.txt", lines_text(sample_run()))


def test_plain_verdict_of_a_healthy_run() -> None:
    """A run whose only problem is a SHOULD warning is healthy, and says so."""
    text = lines_text(passing_run())
    assert text.splitlines()[-1] == "✓ chatkit deployment healthy (2 checks, 1 warnings)"


# -- JSON ----------------------------------------------------------------------------------


def test_json_matches_golden() -> None:
    """The JSON report: schema_version, target, harness version, every check verbatim."""
    golden("report.json", render_json(sample_run(), [SECRET]))


def test_json_fields(tmp_path: Path) -> None:
    """Per check: id, level, outcome, duration, pitfall, fix, ref and evidence."""
    path = write_json(sample_run(), tmp_path / "deep" / "r.json", [SECRET], artifacts="art")
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 2
    assert doc["harness_version"] == "0.1.0" and doc["target"].startswith("http://")
    assert doc["exit_code"] == 1 and doc["artifacts"] == "art"
    by_id = {c["id"]: c for c in doc["checks"]}
    failed = by_id["protocol.event-schema"]
    assert failed["outcome"] == "fail" and failed["level"] == "MUST"
    for key in ("duration", "pitfall", "fix", "ref", "evidence", "repro"):
        assert failed[key] != ""
    assert by_id["history.recall"]["outcome"] == "baselined"
    assert by_id["history.recall"]["baseline_reason"].startswith("TICKET-7")


# -- JUnit ---------------------------------------------------------------------------------


def cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml.split("?>", 1)[1])
    return {c.get("name", ""): c for c in root.iter("testcase")}


def test_junit_matches_golden() -> None:
    """The JUnit XML, byte for byte."""
    golden("report.xml", render_junit(sample_run(), [SECRET]))


def test_junit_mapping() -> None:
    """MUST failure -> failure, error -> error, skip -> skipped naming the option, SHOULD ->
    visible but not failing, baselined -> passing with its reason."""
    xml = render_junit(sample_run(), [SECRET])
    c = cases(xml)
    assert c["protocol.event-schema"].get("classname") == "protocol"
    failure = c["protocol.event-schema"].find("failure")
    assert failure is not None and failure.get("type") == "MUST"
    assert "Fix:" in (failure.text or "") and "curl -N" in (failure.text or "")
    assert c["errors.bad-request"].find("error") is not None
    skipped = c["auth.isolation"].find("skipped")
    assert skipped is not None and "--token-b" in skipped.get("message", "")
    warn = c["sse.no-cache"]
    assert warn.find("failure") is None
    props = {p.get("name"): p.get("value") for p in warn.iter("property")}
    assert props["chatkit.outcome"] == "warn"
    assert "Cache-Control" in (warn.findtext("system-out") or "")
    known = c["history.recall"]
    assert known.find("failure") is None and "TICKET-7" in (known.findtext("system-out") or "")
    suite = ET.fromstring(xml.split("?>", 1)[1]).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "1")


def test_junit_strict_turns_should_failures_into_failures() -> None:
    """With --strict a SHOULD failure is a <failure type="SHOULD">."""
    c = cases(render_junit(sample_run(strict=True)))
    failure = c["sse.no-cache"].find("failure")
    assert failure is not None and failure.get("type") == "SHOULD"


def test_junit_stale_baseline_fails_that_check() -> None:
    """A stale entry shows as a failure on the check that now passes."""
    c = cases(render_junit(sample_run(stale=("history.persisted",))))
    failure = c["history.persisted"].find("failure")
    assert failure is not None and failure.get("type") == "stale-baseline"


def test_junit_harness_error_is_one_error_case() -> None:
    """A run that could not start is one <error> testcase, so CI shows why."""
    run = passing_run()
    run.results = []
    run.harness_error = "cannot connect to http://127.0.0.1:9/chatkit: Connection refused"
    c = cases(render_junit(run))
    error = c["chatkit-harness"].find("error")
    assert error is not None and "Connection refused" in error.get("message", "")


# -- GitHub --------------------------------------------------------------------------------


def test_github_annotations_match_golden() -> None:
    """::error for failures and errors, ::warning for SHOULD warnings, escaped one-liners."""
    lines = github.annotation_lines(sample_run(stale=("history.persisted",)), [SECRET])
    golden("annotations.txt", "\n".join(lines))
    assert all("\n" not in line for line in lines)
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds == ["::error", "::warning", "::error", "::error"]


def test_github_strict_warnings_are_errors() -> None:
    """Under --strict a SHOULD failure is annotated as an error."""
    lines = github.annotation_lines(sample_run(strict=True))
    assert not any(line.startswith("::warning") for line in lines)


def test_github_escaping() -> None:
    """%, CR and LF are encoded in messages; ':' and ',' too in properties."""
    assert github.escape_data("50%\r\nx") == "50%25%0D%0Ax"
    assert github.escape_property("a:b,c") == "a%3Ab%2Cc"


def test_github_enabled_only_in_actions() -> None:
    """Annotations are printed only when GITHUB_ACTIONS=true."""
    assert github.enabled({"GITHUB_ACTIONS": "true"})
    assert not github.enabled({})


# -- every sink redacts --------------------------------------------------------------------


def test_no_sink_leaks_the_planted_secret() -> None:
    """The sample plants a secret in evidence and repro; no sink output contains it."""
    run = sample_run(stale=("history.persisted",))
    outputs = [
        rich_text(run),
        lines_text(run),
        render_json(run, [SECRET]),
        render_junit(run, [SECRET]),
        "\n".join(github.annotation_lines(run, [SECRET])),
    ]
    for text in outputs:
        assert SECRET not in text
        assert "***" in text


def test_github_step_summary_matches_golden() -> None:
    """The job summary: verdict, a table of problems with their fixes, folded details."""
    golden("step_summary.md", github.step_summary(sample_run(), [SECRET]))


def test_github_emit_writes_annotations_and_summary(tmp_path: Path) -> None:
    """On Actions, emit() prints the annotations and appends the job summary file."""
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    printed: list[str] = []
    github.emit(sample_run(), [SECRET], write=printed.append, env=env)
    assert len(printed) == 3 and printed[0].startswith("::error")
    assert "| `protocol.event-schema` | MUST | fail |" in summary.read_text()
    printed.clear()
    github.emit(sample_run(), [SECRET], write=printed.append, env={})
    assert printed == []


def test_a_slow_run_names_its_longest_probes() -> None:
    """Past 30 s, one line before the verdict says which probes the run waited on."""
    from dataclasses import replace

    from harness.report.results import ProbeTiming

    run = passing_run()
    run.probes = [
        ProbeTiming("first-turn", False, 0.0, 1.2),
        ProbeTiming("paging", False, 0.1, 42.7),
        ProbeTiming("warm-ttfb", True, 43.0, 0.2),
        ProbeTiming("retry", False, 0.1, 19.1),
        ProbeTiming("glass", False, 0.2, 18.9),
    ]
    slow = lines_text(replace(run, duration=45.0)).splitlines()
    assert slow[-2].startswith(
        "the run took 45 s; longest probes: paging 42.7 s, retry 19.1 s, glass 18.9 s"
    )
    assert slow[-1].startswith("✓ chatkit deployment healthy")
    quick = lines_text(replace(run, duration=12.0)).splitlines()
    assert "longest probes" not in "\n".join(quick)
