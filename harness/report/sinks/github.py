"""GitHub Actions output, when GITHUB_ACTIONS=true: annotations and the job summary.

``::error`` / ``::warning`` workflow commands show each failure on the run's summary page
without opening the log. Escaping follows the runner's workflow-command rules: in the message
``%``, CR and LF are %-encoded; in property values ``:`` and ``,`` are too. When the runner
names a ``GITHUB_STEP_SUMMARY`` file, a Markdown table of the failures is appended to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

from harness.report.results import Outcome, RunResult
from harness.report.sinks.redacted import redact_run
from harness.report.sinks.text import failure_text, verdict_lines

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


def step_summary(run: RunResult, secrets: Iterable[str] = ()) -> str:
    """The job summary: the verdict, then each failure with its fix, details folded."""
    run = redact_run(run, secrets)
    if run.harness_error:
        return f"### chatkit-harness could not run\n\n{_md(run.harness_error)}\n"
    lines = [f"### {_md(line)}" for line in verdict_lines(run)]
    shown = [r for r in run.results if r.outcome in _SUMMARY_OUTCOMES]
    if shown:
        lines += ["", "| check | level | outcome | fix |", "|---|---|---|---|"]
        for r in shown:
            lines.append(f"| `{r.id}` | {r.level} | {r.outcome.value} | {_md(r.fix)} |")
        for r in shown:
            lines += [
                "",
                f"<details><summary><code>{r.id}</code>: {_md(r.title)}</summary>",
                "",
                "~~~text",
                failure_text(r, evidence_lines=20).replace("~~~", "~ ~ ~"),
                "~~~",
                "</details>",
            ]
    return "\n".join(lines) + "\n"


_SUMMARY_OUTCOMES = (Outcome.FAIL, Outcome.ERROR, Outcome.WARN, Outcome.BASELINED)


def _md(text: str) -> str:
    """One table-safe line of Markdown: no pipes, no raw HTML, no line breaks."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def emit(
    run: RunResult,
    secrets: Iterable[str] = (),
    *,
    write: Callable[[str], object],
    env: Mapping[str, str] | None = None,
) -> None:
    """On GitHub Actions: print the annotations with ``write``, append the job summary."""
    env = os.environ if env is None else env
    if not enabled(env):
        return
    keep = list(secrets)
    for line in annotation_lines(run, keep):
        write(line)
    path = env.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as out:
                out.write(step_summary(run, keep))
        except OSError:
            pass  # a summary we cannot write must not turn a verdict into an error
