"""The JUnit XML report (``--junit PATH`` / ``--chatkit-junit PATH``), for CI test tabs.

Mapping (one testcase per check; name = check id, classname = area):
- MUST failure -> ``<failure type="MUST">`` with the whole failure text as the body;
- harness error -> ``<error>`` (the harness broke, not the target);
- SHOULD failure -> passes, but carries ``chatkit.outcome=warn`` and the failure text in
  ``<system-out>`` so it is visible; with ``--strict`` it is a ``<failure type="SHOULD">``;
- skip-untestable -> ``<skipped>`` naming what enables the check;
- baselined -> passes, with the known-failure reason in a property and in ``<system-out>``;
- a stale baseline entry -> a ``<failure type="stale-baseline">`` on that (passing) check.
A run the harness could not start is one ``<error>`` testcase named ``chatkit-harness``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from harness.report.results import CheckResult, Outcome, RunResult
from harness.report.sinks.json_sink import write_text
from harness.report.sinks.redacted import redact_run
from harness.report.sinks.text import failure_text, skip_reason

SUITE = "chatkit-harness"


def render_junit(run: RunResult, secrets: Iterable[str] = ()) -> str:
    run = redact_run(run, secrets)
    suites = ET.Element("testsuites", name=SUITE)
    suite = ET.SubElement(suites, "testsuite", name=SUITE)
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", run.target),
        ("harness_version", run.harness_version),
        ("strict", str(run.strict).lower()),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    tally = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    stale = set(run.stale_baseline)
    for r in run.results:
        kind = _testcase(suite, r, strict=run.strict, stale=r.id in stale)
        tally["tests"] += 1
        if kind:
            tally[kind] += 1
    if run.harness_error:
        case = ET.SubElement(suite, "testcase", name=SUITE, classname="harness", time="0.000")
        error = ET.SubElement(case, "error", message=run.harness_error, type="harness-error")
        error.text = run.harness_error
        tally["tests"] += 1
        tally["errors"] += 1
    for element in (suites, suite):
        for key, count in tally.items():
            element.set(key, str(count))
        element.set("time", f"{run.duration:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(suite: ET.Element, r: CheckResult, *, strict: bool, stale: bool) -> str:
    """Add one testcase; return which tally it counts in ('' for a pass)."""
    case = ET.SubElement(suite, "testcase", name=r.id, classname=r.area, time=f"{r.duration:.3f}")
    props = ET.SubElement(case, "properties")
    for name, value in (
        ("chatkit.level", r.level),
        ("chatkit.outcome", r.outcome.value),
        ("chatkit.title", r.title),
        ("chatkit.ref", r.ref),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    kind = ""
    text = failure_text(r)
    if r.outcome is Outcome.FAIL or (r.outcome is Outcome.WARN and strict):
        failure = ET.SubElement(case, "failure", message=_message(r), type=r.level)
        failure.text = text
        kind = "failures"
    elif r.outcome is Outcome.ERROR:
        error = ET.SubElement(case, "error", message=_message(r), type="harness-error")
        error.text = text
        kind = "errors"
    elif r.outcome is Outcome.SKIP:
        ET.SubElement(case, "skipped", message=f"untestable: {skip_reason(r)}")
        kind = "skipped"
    elif r.outcome is Outcome.BLOCKED:
        ET.SubElement(case, "skipped", message=f"blocked by {r.blocked_by}: {r.message}")
        kind = "skipped"
    elif r.outcome is Outcome.NOT_OFFERED:
        ET.SubElement(case, "skipped", message=f"not offered: {r.message}")
        kind = "skipped"
    elif r.outcome is Outcome.WARN:
        ET.SubElement(case, "system-out").text = f"WARNING ({r.level}, not failing): {text}"
    elif r.outcome is Outcome.BASELINED:
        ET.SubElement(props, "property", name="chatkit.baseline", value=r.baseline_reason)
        ET.SubElement(case, "system-out").text = f"known failure (baseline): {text}"
    if stale:
        message = f"stale baseline entry: {r.id} passes now; remove it from the baseline file"
        ET.SubElement(case, "failure", message=message, type="stale-baseline").text = message
        kind = "failures"
    return kind


def _message(r: CheckResult) -> str:
    first = r.message.splitlines()[0] if r.message else r.title
    return f"{r.title}: {first}" if first != r.title else first


def write_junit(run: RunResult, path: str | os.PathLike[str], secrets: Iterable[str] = ()) -> Path:
    return write_text(path, render_junit(run, secrets))
